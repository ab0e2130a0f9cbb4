"""Card-history store on DynamoDB (moto over HTTP): one invocation's batch load and save against
one UpdateItem per record, in the same run, on the same server.

Each invocation has 500 records over ~290 distinct cards of a 420-card pool, so after the first
invocations most cards have a stored history, as in a steady stream. Rows:
  load       DynamoCardStore.load: BatchGetItem, 100 keys a call
  save       DynamoCardStore.save: TransactWriteItems, 100 conditional Puts a call
  batch      load + save: items/s = (cards read + cards written) / time in the store
  merged     a save after another invocation saved the same cards first: every card's write is
             cancelled, its events re-applied on the newer history, written again
  per-record one UpdateItem per record (no read at all): the call rate that rules it out
moto 5.2.5 deep-copies the whole table once per item of a TransactWriteItems call, so on moto the
save's rate falls as the table grows (AWS has no such cost; the table here holds 420 cards). The
calls per invocation are what carries over to AWS, where each call is a network round trip.

    .venv/bin/python bench/bench_cardstore.py [--invocations 10]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "lambda"))

from cardhistory import CATEGORIES, event_seconds, features, remember  # noqa: E402
from dynamostore import DynamoCardStore  # noqa: E402

from txviz_pipeline import aws  # noqa: E402
from txviz_pipeline.processes import stop_group  # noqa: E402
from txviz_pipeline.settings import Settings  # noqa: E402
from txviz_pipeline_tests.support.moto import (  # noqa: E402
    create_card_history_table,
    free_port,
    start_moto_server,
)

RECORDS = 500
CARDS = 420
TABLE = "txviz-card-history"
Invocation = list[tuple[str, dict[str, Any], int]]


def make_invocations(count: int, seed: int = 11) -> list[Invocation]:
    """``count`` invocations of 500 landing records, each over ~290 cards, in event time."""
    rng = random.Random(seed)
    cards = [f"{rng.getrandbits(128):032x}" for _ in range(CARDS)]
    start = event_seconds("2019-06-01T00:00:00Z")
    out = []
    for n in range(count):
        records = []
        for i in range(RECORDS):
            tx = {
                "trans_num": f"{rng.getrandbits(128):032x}",
                "amount": round(rng.lognormvariate(3.8, 1.0), 2),
                "category": rng.choice(CATEGORIES),
                "distance_km": round(rng.uniform(1, 120), 3),
                "hour": rng.randrange(24),
                "merch_lat": 36 + rng.uniform(-1, 1),
                "merch_long": -81 + rng.uniform(-1, 1),
            }
            records.append((rng.choice(cards), tx, start + n * RECORDS * 20 + i * 20))
        out.append(records)
    return out


def score(histories: dict, records: Invocation) -> dict[str, list]:
    """What the processor does between load and save: features, then remember, per record."""
    events: dict[str, list] = {}
    for tok, tx, t in records:
        features(histories.get(tok), tx, t)
        histories[tok] = remember(histories.get(tok), tx, t)
        events.setdefault(tok, []).append((tx, t))
    return events


def count_calls(client: Any) -> dict[str, int]:
    """API calls made by ``client`` from now on, by operation (updated in place)."""
    calls: dict[str, int] = {}

    def counted(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.dynamodb.*", counted)
    return calls


def batch_path(store: DynamoCardStore, invocations: list[Invocation]) -> dict[str, float]:
    """Seconds in load and in save, items read and written."""
    out = dict.fromkeys(("load_s", "save_s", "read", "written"), 0.0)
    for records in invocations:
        begin = time.perf_counter()
        histories = store.load([tok for tok, _, _ in records])
        out["load_s"] += time.perf_counter() - begin
        events = score(histories, records)
        begin = time.perf_counter()
        saved = store.save(histories, events)
        out["save_s"] += time.perf_counter() - begin
        assert saved.written == len(events) and not saved.not_saved, saved
        out["read"] += len(histories.versions)
        out["written"] += len(events)
    return out


def merged_path(
    first: DynamoCardStore,
    second: DynamoCardStore,
    invocations: list[Invocation],
    calls: dict[str, int],
) -> tuple[float, int, int]:
    """Seconds in, cards written by and calls made by the second invocation's save, which finds
    every card saved meanwhile."""
    spent, merged, made = 0.0, 0, 0
    for records in invocations:
        half = len(records) // 2
        a_histories = first.load([tok for tok, _, _ in records])
        b_histories = second.load([tok for tok, _, _ in records])
        a_events = score(a_histories, records[:half])
        b_events = score(b_histories, records[half:])
        first.save(a_histories, a_events)
        before = sum(calls.values())
        begin = time.perf_counter()
        saved = second.save(b_histories, b_events)
        spent += time.perf_counter() - begin
        made += sum(calls.values()) - before
        assert not saved.not_saved, saved
        merged += saved.written + saved.merged
    return spent, merged, made


def per_record_path(client: Any, invocations: list[Invocation]) -> tuple[float, int]:
    """One UpdateItem per record: the history of the record's card, written record by record."""
    histories: dict[str, dict] = {}
    calls = 0
    begin = time.perf_counter()
    for records in invocations:
        for tok, tx, t in records:
            histories[tok] = remember(histories.get(tok), tx, t)
            client.update_item(
                TableName=TABLE + "-per-record",
                Key={"card_token": {"S": tok}},
                UpdateExpression="SET #h = :h ADD #v :one",
                ExpressionAttributeNames={"#h": "history", "#v": "version"},
                ExpressionAttributeValues={
                    ":h": {"S": str(histories[tok])},
                    ":one": {"N": "1"},
                },
            )
            calls += 1
    return time.perf_counter() - begin, calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=10, help="500-record invocations")
    args = parser.parse_args(argv)

    invocations = make_invocations(args.invocations)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-cardstore-") as tmp:
        proc = start_moto_server(port, Path(tmp) / "moto.log")
        try:
            settings = Settings(endpoint_url=f"http://127.0.0.1:{port}")
            client = aws.client("dynamodb", settings)
            for name in (TABLE, TABLE + "-per-record", TABLE + "-merged"):
                create_card_history_table(client, name)
            calls = count_calls(client)
            batch = batch_path(DynamoCardStore(TABLE, client), invocations)
            batch_calls = dict(calls)
            first = DynamoCardStore(TABLE + "-merged", client)
            second = DynamoCardStore(first.table_name, client)
            merged_s, merged, merge_calls = merged_path(first, second, invocations, calls)
            per_record_s, updates = per_record_path(client, invocations)
        finally:
            stop_group(proc.pid)

    n = args.invocations
    batch_s = batch["load_s"] + batch["save_s"]
    batch_rate = (batch["read"] + batch["written"]) / batch_s
    per_record_rate = updates / per_record_s
    print(
        f"card-history store on moto over HTTP: {n} invocations of {RECORDS} records, "
        f"{batch['read'] / n:.0f} distinct cards each"
    )
    print(f"{'path':<56} {'items/s':>9} {'ms/invocation':>14} {'calls/invocation':>17}")
    gets, writes = batch_calls["BatchGetItem"], batch_calls["TransactWriteItems"]
    rows = [
        ("load: BatchGetItem", batch["read"] / batch["load_s"], batch["load_s"], gets),
        ("save: TransactWriteItems", batch["written"] / batch["save_s"], batch["save_s"], writes),
        ("batch: load + save", batch_rate, batch_s, gets + writes),
        (
            "merged: save after a concurrent save of the same cards",
            merged / merged_s,
            merged_s,
            merge_calls,
        ),
        ("per-record: one UpdateItem per record", per_record_rate, per_record_s, updates),
    ]
    for name, rate, seconds, count in rows:
        print(f"{name:<56} {rate:>9,.0f} {1000 * seconds / n:>14.0f} {count / n:>17.1f}")
    print(
        f"batch vs per-record: {batch_rate / per_record_rate:.1f}x the items/s; a "
        f"{RECORDS}-record invocation spends {per_record_s / batch_s:.1f}x less time in the store"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
