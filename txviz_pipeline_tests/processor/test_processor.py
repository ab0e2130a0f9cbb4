"""The processor's transformation: validation, the landing record, tokens, features, scoring."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging

import pytest
import scoring
from cardstore import MemoryCardStore
from handler import CARD_TOKEN_KEY_ENV, ConfigurationError, handler
from records import process_records

from txviz_pipeline import schema

from .builders import (
    BASE_RECORD,
    CARDHOLDER,
    KEY,
    NOW,
    b64,
    decode,
    event,
    line,
    numbered,
    one,
    record,
    run,
)

PYTHON_TYPES = {
    "string": str,
    "string?": type(None),  # replay_id: BASE_RECORD comes from no replay
    "int64": int,
    "float64": float,
    "list<string>": list,
}


def test_valid_record_becomes_the_landing_record():
    res = one(BASE_RECORD)
    assert res.result == "Ok" and res.reason is None
    out = decode(res.data)
    assert list(out) == list(schema.LANDING_FIELDS)
    for name, kind in schema.LANDING_FIELDS.items():
        assert type(out[name]) is PYTHON_TYPES[kind], name
    assert out == {
        "trans_num": "0b242abb623afc578575680df30655b9",
        "row_id": 0,
        "event_time": "2019-01-01T00:00:18Z",
        "unix_time": 1325376018,
        "category": "misc_net",
        "amount": 4.97,
        "merchant": "fraud_Rippin, Kub and Mann",
        "merch_lat": 36.011293,
        "merch_long": -82.048315,
        "card_last4": "2095",
        "card_token": hmac.new(KEY, b"2703186189652095", hashlib.sha256).hexdigest()[:32],
        "gender": "F",
        **CARDHOLDER,
        "age": 30,
        "age_band": "25-34",
        "hour": 0,
        "distance_km": 78.598,
        "is_fraud": 0,
        # A first purchase of $4.97: scored by the bundled model, far below its threshold.
        "fraud_score": out["fraud_score"],
        "fraud_reasons": [],
        "fraud_flagged": 0,
        "model_version": scoring.current_model().version,
        "processed_at": "2024-06-01T12:00:00.123Z",
        "replay_id": None,
    }
    assert res.partition_keys == {"zone": "landing"}
    assert 0 < out["fraud_score"] < scoring.current_model().threshold / 10


def test_replay_id_passes_through_and_is_checked():
    tagged = one({**BASE_RECORD, "replay_id": "sample-20261127T090000"})
    assert tagged.result == "Ok"
    assert decode(tagged.data)["replay_id"] == "sample-20261127T090000"
    for bad in ("", "has space", 'quote"', 7, "x" * 129):
        res = one({**BASE_RECORD, "replay_id": bad})
        assert res.zone == "quarantine"
        assert res.reason.startswith("bad_value: replay_id"), res.reason


def test_no_personal_data_in_the_landing_line():
    raw = base64.b64decode(one(BASE_RECORD).data).decode()
    for secret in ("2703186189652095", "Jennifer", "Banks", "561 Perry Cove", "1988-03-09"):
        assert secret not in raw
    for name in ("first", "last", "street", "dob", "cc_num", "amt", "trans_date_trans_time"):
        assert f'"{name}"' not in raw


def test_trailing_newline_is_optional_and_compact_json_is_accepted():
    with_nl = decode(one(line(BASE_RECORD)).data)
    without = decode(one(line(BASE_RECORD, newline=False)).data)
    compact = decode(one(json.dumps(BASE_RECORD, separators=(",", ":")).encode()).data)
    assert with_nl == without == compact


def test_card_number_as_integer_is_the_same_card():
    as_str = decode(one(BASE_RECORD).data)
    as_int = decode(one(record(cc_num=2703186189652095)).data)
    assert as_int["card_token"] == as_str["card_token"]
    assert as_int["card_last4"] == "2095"


def test_card_token_depends_on_the_key():
    entries = [{"recordId": "a", "data": b64(line(BASE_RECORD))}]
    a = decode(process_records(entries, KEY, now=NOW)[0].data)
    b = decode(process_records(entries, b"another-key-0123456789", now=NOW)[0].data)
    assert a["card_token"] != b["card_token"] and len(a["card_token"]) == 32


def test_amount_rounds_to_cents_and_short_zip_gets_its_leading_zero():
    out = decode(one(record(amt=12.345678, zip=1257)).data)
    assert out["amount"] == 12.35
    assert out["zip"] == "01257"


def test_trans_num_is_lowercased():
    out = decode(one(record(trans_num="0B242ABB623AFC578575680DF30655B9")).data)
    assert out["trans_num"] == "0b242abb623afc578575680df30655b9"


@pytest.mark.parametrize(
    ("dob", "age", "band"),
    [
        ("2000-01-01", 19, "<25"),
        ("1994-01-02", 24, "<25"),  # birthday the day after the transaction
        ("1994-01-01", 25, "25-34"),
        ("1975-06-01", 43, "35-44"),
        ("1964-01-01", 55, "55-64"),
        ("1954-01-01", 65, "65+"),
    ],
)
def test_age_at_event_time(dob: str, age: int, band: str):
    out = decode(one(record(dob=dob)).data)
    assert (out["age"], out["age_band"]) == (age, band)


def test_distance_is_haversine_km():
    # New York to London along the great circle: 5,570 km.
    out = decode(
        one(record(lat=40.7128, long=-74.0060, merch_lat=51.5074, merch_long=-0.1278)).data
    )
    assert out["distance_km"] == pytest.approx(5570, abs=5)
    assert decode(one(record(merch_lat=36.0788, merch_long=-81.1781)).data)["distance_km"] == 0


def test_is_fraud_passes_through_untouched_by_the_score(monkeypatch):
    outs = []
    for label in (0, 1):
        monkeypatch.setitem(scoring._container, "store", MemoryCardStore())  # a new card each time
        outs.append(decode(one(record(is_fraud=label, amt=3.0, category="home")).data))
    assert [o["is_fraud"] for o in outs] == [0, 1]
    assert outs[0]["fraud_score"] == outs[1]["fraud_score"]


def test_results_keep_input_order_and_exact_aws_shape():
    recs = [numbered(i) for i in range(5)]
    res = run(recs[0], b"not json", recs[1], recs[2], b"", recs[3], recs[4])
    assert [r.record_id for r in res] == [f"r{i}" for i in range(7)]
    assert [r.result for r in res] == ["Ok"] * 7
    assert [r.zone[0] for r in res] == list("lqllqll")
    for r in res:
        assert set(r.to_firehose()) == {"recordId", "result", "data", "metadata"}
    assert res[1].to_firehose()["metadata"] == {"partitionKeys": {"zone": "quarantine"}}
    # Firehose writes the quarantine line, never the record as it arrived.
    assert decode(res[1].data) == {
        "reason": res[1].reason,
        "size_bytes": 8,
        "quarantined_at": "2024-06-01T12:00:00.123Z",
    }


def test_byte_duplicate_is_dropped_and_its_twin_delivered():
    dup = line(numbered(1))
    res = run(dup, numbered(2), dup, dup)
    assert [r.result for r in res] == ["Ok", "Ok", "Dropped", "Dropped"]
    assert "r0" in res[2].reason and res[2].reason.startswith("duplicate:")
    # Same record, different bytes (no newline): not provably the same, so not dropped.
    res = run(dup, line(numbered(1), newline=False))
    assert [r.result for r in res] == ["Ok", "Ok"]


def test_missing_key_is_a_loud_configuration_error(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(CARD_TOKEN_KEY_ENV)
    with pytest.raises(ConfigurationError, match="nor TXVIZ_CARD_TOKEN_KEY is set"):
        handler(event([line(BASE_RECORD)]), None)
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, "k" * 15)
    with pytest.raises(ConfigurationError, match="holds 15 characters; at least 16"):
        handler(event([line(BASE_RECORD)]), None)
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, "k" * 16)
    assert handler(event([line(BASE_RECORD)]), None)["records"][0]["result"] == "Ok"


@pytest.mark.parametrize(
    "bad_event",
    [None, [], "records", {}, {"records": None}, {"records": {"a": 1}}, {"records": "x"}],
)
def test_malformed_event_returns_no_records(bad_event):
    assert handler(bad_event, None) == {"records": []}


def test_entries_without_usable_record_id_are_left_out_and_logged(caplog):
    good = b64(line(BASE_RECORD))
    entries = [
        {"recordId": "a", "data": good},
        {"data": good},
        {"recordId": 7, "data": good},
        {"recordId": "", "data": good},
        "not a record",
        None,
        {"recordId": "b", "data": None},
        {"recordId": "c"},
        {"recordId": "d", "data": "!!!not base64!!!"},
    ]
    with caplog.at_level(logging.INFO, logger="txviz.processor"):
        out = handler({"records": entries}, None)
    assert [(r["recordId"], r["result"]) for r in out["records"]] == [
        ("a", "Ok"),
        ("b", "Ok"),
        ("c", "Ok"),
        ("d", "Ok"),
    ]
    assert [r["metadata"]["partitionKeys"]["zone"] for r in out["records"]] == [
        "landing",
        "quarantine",
        "quarantine",
        "quarantine",
    ]
    assert decode(out["records"][1]["data"])["size_bytes"] == 0
    logs = [json.loads(r.getMessage()) for r in caplog.records]
    summary = logs[-1]
    assert summary == {
        "event": "batch_processed",
        "invocationId": None,
        "records": 9,
        "landed": 1,
        "quarantined": 8,
        "dropped": 0,
        "failed": 0,
        "unreturnable": 5,
    }
    reasons = {log["index"]: log["reason"] for log in logs if log["event"] == "record_not_landed"}
    assert reasons[1].startswith("missing_record_id:")
    assert reasons[8].startswith("not_base64:")
    # process_records still reports every entry, so a caller can route the unreturnable ones.
    res = process_records(entries, KEY, now=NOW)
    assert len(res) == len(entries) and res[4].record_id is None


def test_every_response_record_has_a_logged_reason_unless_it_landed(caplog):
    ev = event([line(BASE_RECORD), b"Hello", line(BASE_RECORD)])
    with caplog.at_level(logging.WARNING, logger="txviz.processor"):
        out = handler(ev, None)
    logged = {
        json.loads(r.getMessage())["recordId"]: json.loads(r.getMessage())["reason"]
        for r in caplog.records
    }
    not_landed = {
        r["recordId"]
        for r in out["records"]
        if r["result"] != "Ok" or r["metadata"]["partitionKeys"]["zone"] != "landing"
    }
    assert set(logged) == not_landed == {"record-1", "record-2"}
    assert logged["record-1"].startswith("invalid_json:")
