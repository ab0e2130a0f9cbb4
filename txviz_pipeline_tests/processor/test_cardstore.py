"""The card-history stores: memory (one process) and DynamoDB (concurrent invocations, moto over
HTTP), loaded and saved the way the processor does once per invocation."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cardstore
import dynamostore
import pytest
from botocore.stub import ANY, Stubber
from cardhistory import features, remember, restored
from cardstore import CardHistories, MemoryCardStore, Saved
from dynamostore import DynamoCardStore

from txviz_pipeline import aws
from txviz_pipeline.settings import Settings
from txviz_pipeline_tests.support.moto import create_card_history_table

TABLE = "txviz-card-history"
T0 = 1_546_300_800  # 2019-01-01T00:00:00Z
WINDOWED = slice(4, 10)  # tx/amount last hour and day, night count, time since previous


def tx(i: int, amount: float = 20.0, hour: int = 12, category: str = "grocery_pos") -> dict:
    """A landing record with what the features read; trans_num's first 12 characters vary."""
    return {
        "trans_num": f"{i:012x}{'ab' * 10}",
        "amount": amount,
        "category": category,
        "distance_km": 12.5,
        "hour": hour,
        "merch_lat": 36.0 + i / 1000,
        "merch_long": -81.0,
    }


def token(c: int) -> str:
    return f"{c:032x}"


def invocation(store, records: list[tuple[str, dict, int]]) -> tuple[CardHistories, dict]:
    """One processor invocation up to the save: load, then features and remember per record."""
    histories = store.load([tok for tok, _, _ in records])
    events: dict[str, list] = {}
    for tok, record, t in sorted(records, key=lambda r: r[2]):
        features(histories.get(tok), record, t)
        histories[tok] = remember(histories.get(tok), record, t)
        events.setdefault(tok, []).append((record, t))
    return histories, events


def run(store, records: list[tuple[str, dict, int]]) -> Saved:
    return store.save(*invocation(store, records))


def keys(history: dict) -> list[str]:
    return [event[3] for event in history["r"]]


# ---------------------------------------------------------------------------- memory


def test_memory_store_round_trip_returns_copies_with_versions():
    store = MemoryCardStore()
    first = store.load([token(1), token(2), token(1)])
    assert first == {} and first.versions == {token(1): 0, token(2): 0}
    assert run(store, [(token(1), tx(1), T0), (token(1), tx(2), T0 + 60)]) == Saved(written=1)
    loaded = store.load([token(1)])
    assert loaded.versions == {token(1): 1}
    assert loaded[token(1)]["n"] == 2 and keys(loaded[token(1)]) == [
        tx(1)["trans_num"][:12],
        tx(2)["trans_num"][:12],
    ]
    # A loaded history is the caller's to change: the store keeps its own.
    remember(loaded[token(1)], tx(3), T0 + 120)
    assert store.load([token(1)])[token(1)]["n"] == 2


def test_memory_store_keeps_at_most_max_cards_least_recently_used_out():
    store = MemoryCardStore(max_cards=3)
    for c in range(3):
        run(store, [(token(c), tx(c), T0)])
    store.load([token(0)])  # card 0 is now more recent than cards 1 and 2
    run(store, [(token(3), tx(3), T0)])
    assert len(store) == 3
    assert store.load([token(c) for c in range(4)]).versions == {
        token(0): 1,
        token(1): 0,
        token(2): 1,
        token(3): 1,
    }
    with pytest.raises(ValueError, match="at least 1"):
        MemoryCardStore(max_cards=0)


def test_memory_store_merges_invocations_that_loaded_the_same_card():
    store = MemoryCardStore()
    run(store, [(token(1), tx(1), T0)])
    a = invocation(store, [(token(1), tx(2), T0 + 60)])
    b = invocation(store, [(token(1), tx(3), T0 + 120)])
    assert store.save(*a) == Saved(written=1)
    assert store.save(*b) == Saved(merged=1)
    history = store.load([token(1)])[token(1)]
    assert history["n"] == 3 and len(keys(history)) == 3
    # The same events saved again (a retried invocation) change nothing.
    assert store.save(*a) == Saved(merged=1)
    assert store.load([token(1)])[token(1)] == history


def test_memory_store_loses_nothing_under_concurrent_invocations():
    # The embedded stack's moto server runs each Firehose delivery (and so each handler call)
    # in its own thread. 8 threads x 10 rounds: all load the same 5 cards, then all save.
    store = MemoryCardStore()
    cards = [token(c) for c in range(5)]
    loaded = threading.Barrier(8, timeout=30)

    def invocations(worker: int) -> None:
        for n in range(10):
            i = n * 100 + worker
            histories, events = invocation(
                store, [(tok, tx(i * 10 + c), T0 + i) for c, tok in enumerate(cards)]
            )
            loaded.wait()
            store.save(histories, events)
            loaded.wait()

    threads = [threading.Thread(target=invocations, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    final = store.load(cards)
    assert [final[tok]["n"] for tok in cards] == [80] * 5
    assert [final.versions[tok] for tok in cards] == [80] * 5


def test_the_memory_store_needs_only_the_standard_library():
    # As in the Lambda zip: a fresh interpreter with no site-packages, only lambda/ on its path.
    folder = Path(cardstore.__file__).parent
    script = (
        f"import sys; sys.path.insert(0, {str(folder)!r}); import cardstore; "
        "s = cardstore.from_env(); print(type(s).__name__, "
        "sorted(m for m in sys.modules if m.startswith(('boto', 'moto'))))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-I", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "MemoryCardStore []\n"


def test_from_env_is_one_memory_store_per_process_unless_a_table_is_named(monkeypatch):
    monkeypatch.setattr(cardstore, "_stores", {})
    monkeypatch.delenv(cardstore.TABLE_ENV, raising=False)
    store = cardstore.from_env()
    assert isinstance(store, MemoryCardStore) and store.max_cards == cardstore.DEFAULT_MAX_CARDS
    assert cardstore.from_env() is store


# ---------------------------------------------------------------------------- DynamoDB


@pytest.fixture
def dynamodb(moto_settings):
    client = aws.client("dynamodb", moto_settings)
    create_card_history_table(client, TABLE)
    return client


def count_calls(client) -> dict[str, int]:
    calls: dict[str, int] = {}

    def counted(model, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb.*", counted)
    return calls


@pytest.mark.integration
def test_dynamo_store_round_trip_in_batches_of_100(dynamodb):
    store = DynamoCardStore(TABLE, dynamodb)
    calls = count_calls(dynamodb)
    records = [(token(c), tx(c * 10 + k), T0 + c + k * 600) for c in range(250) for k in range(2)]
    histories, events = invocation(store, records)
    assert histories.versions == {token(c): 0 for c in range(250)}
    assert store.save(histories, events) == Saved(written=250)
    assert calls == {"BatchGetItem": 3, "TransactWriteItems": 3}
    loaded = store.load([token(c) for c in range(250)])
    assert loaded == dict(histories)
    assert loaded.versions == {token(c): 1 for c in range(250)}
    item = dynamodb.get_item(TableName=TABLE, Key={"card_token": {"S": token(7)}})["Item"]
    assert set(item) == {"card_token", "history", "version", "expires_at"}
    assert restored(json.loads(item["history"]["S"])) == histories[token(7)]
    assert item["version"] == {"N": "1"}
    expires = int(item["expires_at"]["N"]) - time.time()
    assert 400 * 86400 - 60 < expires <= 400 * 86400


@pytest.mark.integration
def test_dynamo_store_loses_no_transaction_of_concurrent_invocations(dynamodb):
    # Two invocations load the same 150 cards, each remembers its own transaction per card, and
    # both save: the second finds every card moved on and re-applies its own events.
    a_store, b_store = DynamoCardStore(TABLE, dynamodb), DynamoCardStore(TABLE, dynamodb)
    cards = [token(c) for c in range(150)]
    run(a_store, [(tok, tx(c), T0) for c, tok in enumerate(cards)])
    a = invocation(a_store, [(tok, tx(1000 + c), T0 + 60) for c, tok in enumerate(cards)])
    b = invocation(b_store, [(tok, tx(2000 + c), T0 + 30) for c, tok in enumerate(cards)])
    calls = count_calls(dynamodb)
    assert a_store.save(*a) == Saved(written=150)
    assert b_store.save(*b) == Saved(merged=150)
    # 2 calls each, and 2 more for the merged cards: the cancellations carried the newer
    # items, so merging needed no second read.
    assert calls == {"TransactWriteItems": 6}
    final = a_store.load(cards)
    for c, tok in enumerate(cards):
        assert final[tok]["n"] == 3
        assert keys(final[tok]) == [tx(i)["trans_num"][:12] for i in (c, 2000 + c, 1000 + c)]
        assert final.versions[tok] == 3
    # Either invocation saved again (a Firehose retry) changes no history.
    assert a_store.save(*a) == Saved(merged=150)
    assert b_store.save(*b) == Saved(merged=150)
    assert a_store.load(cards) == dict(final)


@pytest.mark.integration
def test_dynamo_store_resends_cards_cancelled_with_a_conflicting_one(dynamodb):
    store = DynamoCardStore(TABLE, dynamodb)
    a = invocation(store, [(token(c), tx(c), T0) for c in range(3)])
    run(DynamoCardStore(TABLE, dynamodb), [(token(1), tx(99), T0 + 5)])
    assert store.save(*a) == Saved(written=2, merged=1)
    loaded = store.load([token(c) for c in range(3)])
    assert [loaded[token(c)]["n"] for c in range(3)] == [1, 2, 1]


@pytest.mark.integration
def test_late_events_give_the_same_windowed_features_as_in_order(dynamodb):
    tok = token(1)
    times = [T0, T0 + 600, T0 + 1200, T0 + 1800, T0 + 7200]
    records = [(tok, tx(i, amount=10.0 * (i + 1), hour=i), t) for i, t in enumerate(times)]
    in_order = MemoryCardStore()
    for record in records:
        run(in_order, [record])
    late = DynamoCardStore(TABLE, dynamodb)
    run(late, [records[0], records[2], records[4]])
    run(late, [records[3]])
    # The second transaction arrives last, in an invocation overlapping a retried fourth one.
    x = invocation(late, [records[1]])
    run(late, [records[3]])
    late.save(*x)
    ordered, shuffled = in_order.load([tok])[tok], late.load([tok])[tok]
    assert keys(shuffled) == keys(ordered) and shuffled["n"] == ordered["n"] == 5
    probe = tx(50, amount=80.0, hour=2)
    for t in (T0 + 900, T0 + 7300):
        assert features(shuffled, probe, t)[WINDOWED] == features(ordered, probe, t)[WINDOWED]
    assert features(shuffled, probe, T0 + 7300) == pytest.approx(
        features(ordered, probe, T0 + 7300)
    )


@pytest.mark.integration
def test_dynamo_store_failure_degrades_to_no_history_and_never_raises(moto_settings, caplog):
    client = aws.client("dynamodb", moto_settings, max_attempts=1)
    store = DynamoCardStore("no-such-table", client)
    caplog.set_level(logging.WARNING, logger="txviz.processor")
    loaded = store.load([token(1)])
    assert loaded == {} and loaded.versions == {}  # unread: neither found nor known absent
    # Scored as a new card; the save reads the card again before writing, and gives up.
    assert run(store, [(token(1), tx(1), T0)]) == Saved(not_saved=1)
    logged = [json.loads(r.getMessage())["event"] for r in caplog.records]
    assert logged == ["card_history_not_read"] * 3 + ["card_history_not_saved"]


@pytest.mark.integration
def test_from_env_names_the_table(dynamodb, monkeypatch):
    monkeypatch.setattr(cardstore, "_stores", {})
    monkeypatch.setenv(cardstore.TABLE_ENV, TABLE)
    store = cardstore.from_env()
    assert isinstance(store, DynamoCardStore) and store.table_name == TABLE
    assert cardstore.from_env() is store
    assert run(store, [(token(1), tx(1), T0)]) == Saved(written=1)
    assert store.load([token(1)]).versions == {token(1): 1}


# ---------------------------------------------------------------------------- what moto can't do


@pytest.fixture
def stubbed():
    client = aws.client("dynamodb", Settings(endpoint_url="http://127.0.0.1:9"))
    with Stubber(client) as stub:
        slept: list[float] = []
        store = DynamoCardStore(TABLE, client, sleep=slept.append)
        yield store, stub, slept
        stub.assert_no_pending_responses()


def item(tok: str, history: dict, version: int) -> dict:
    return {
        "card_token": {"S": tok},
        "history": {"S": json.dumps(history)},
        "version": {"N": str(version)},
    }


def test_unprocessed_keys_are_asked_for_again_with_backoff(stubbed):
    store, stub, slept = stubbed
    one, two = remember(None, tx(1), T0), remember(None, tx(2), T0)
    unprocessed = {TABLE: {"Keys": [{"card_token": {"S": token(2)}}]}}
    stub.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item(token(1), one, 4)]}, "UnprocessedKeys": unprocessed},
    )
    stub.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item(token(2), two, 7)]}, "UnprocessedKeys": {}},
        expected_params={"RequestItems": {TABLE: get_request([token(2)])}},
    )
    loaded = store.load([token(1), token(2), token(3)])
    assert loaded == {token(1): one, token(2): two}
    assert loaded.versions == {token(1): 4, token(2): 7, token(3): 0}
    assert len(slept) == 1 and 0 <= slept[0] <= dynamostore.BACKOFF_SECONDS * 2


def get_request(tokens: list[str]) -> dict:
    return {
        "Keys": [{"card_token": {"S": tok}} for tok in tokens],
        "ConsistentRead": True,
        "ProjectionExpression": "#k, #h, #v",
        "ExpressionAttributeNames": {"#k": "card_token", "#h": "history", "#v": "version"},
    }


def test_a_card_that_keeps_conflicting_is_given_up_after_bounded_retries(stubbed, caplog):
    store, stub, slept = stubbed
    caplog.set_level(logging.WARNING, logger="txviz.processor")
    histories, events = CardHistories(), {token(1): [(tx(1), T0)]}
    histories[token(1)], histories.versions[token(1)] = remember(None, tx(1), T0), 0
    for version in range(1, dynamostore.MAX_WRITE_ROUNDS + 1):
        newer = remember(None, tx(100 + version), T0 + version)
        stub.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            modeled_fields={
                "CancellationReasons": [
                    {"Code": "ConditionalCheckFailed", "Item": item(token(1), newer, version)}
                ]
            },
        )
    assert store.save(histories, events) == Saved(not_saved=1)
    assert len(slept) == dynamostore.MAX_WRITE_ROUNDS - 1
    [logged] = [json.loads(r.getMessage()) for r in caplog.records]
    assert logged["event"] == "card_history_not_saved" and logged["cards"] == 1


def test_a_cancellation_without_reasons_reads_the_cards_again(stubbed):
    # An older botocore leaves CancellationReasons out of the error: the cards are read again
    # and the invocation's events re-applied on what was stored meanwhile.
    store, stub, _ = stubbed
    histories, events = CardHistories(), {token(1): [(tx(1), T0 + 60)]}
    histories[token(1)], histories.versions[token(1)] = remember(None, tx(1), T0 + 60), 0
    newer = remember(None, tx(2), T0)
    stub.add_client_error("transact_write_items", "TransactionCanceledException")
    stub.add_response(
        "batch_get_item",
        {"Responses": {TABLE: [item(token(1), newer, 1)]}},
        expected_params={"RequestItems": {TABLE: get_request([token(1)])}},
    )
    merged = remember(remember(None, tx(2), T0), tx(1), T0 + 60)
    put = dynamostore._put(TABLE, token(1), json.dumps(merged, separators=(",", ":")), 1, ANY)
    stub.add_response("transact_write_items", {}, expected_params={"TransactItems": [put]})
    assert store.save(histories, events) == Saved(merged=1)


def test_an_oversized_history_is_not_saved_and_the_others_are(stubbed, monkeypatch):
    store, stub, _ = stubbed
    monkeypatch.setattr(dynamostore, "MAX_HISTORY_BYTES", 400)
    monkeypatch.setattr(dynamostore, "WRITE_BATCH_BYTES", 200)
    histories, events = CardHistories(), {}
    for c, n in ((1, 1), (2, 20), (3, 1)):
        history = None
        events[token(c)] = [(tx(c * 100 + k), T0 + k) for k in range(n)]
        for record, t in events[token(c)]:
            history = remember(history, record, t)
        histories[token(c)], histories.versions[token(c)] = history, 0
    # Cards 1 and 3 (~120 bytes each) would exceed a transaction's 200 bytes together.
    for _ in range(2):
        stub.add_response("transact_write_items", {}, expected_params={"TransactItems": [ANY]})
    assert store.save(histories, events) == Saved(written=2, not_saved=1)
