"""The processor against AWS's contract: AWS's sample event, the shared schema, and fuzzing."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import cardhistory
import quarantine
import validate
from handler import handler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records import process_records

from txviz_pipeline import redact, schema

from .builders import BASE_RECORD, TEST_KEY, b64, decode, event, line, numbered

SAMPLE_EVENT = Path(__file__).with_name("fixtures") / "direct-put-event.json"


def test_lambda_schema_agrees():
    assert validate.NDJSON_FIELDS == schema.NDJSON_FIELDS
    assert validate.CATEGORIES == schema.CATEGORIES
    assert validate.REPLAY_ID_FIELD == schema.REPLAY_ID_FIELD
    assert validate.REPLAY_ID_PATTERN == schema.REPLAY_ID_PATTERN
    assert cardhistory.CATEGORIES == schema.CATEGORIES


def test_lambda_redaction_agrees():
    # lambda/quarantine.py keeps a standard-library copy of txviz_pipeline/redact.py's rules.
    for name in (
        "PERSONAL_FIELDS",
        "CARD_FIELD",
        "REDACTED",
        "DIGIT_RUN_PATTERN",
        "CARD_DIGITS_PATTERN",
        "TRANS_NUM_PATTERN",
        "LARGEST_KEPT_NUMBER",
    ):
        assert getattr(quarantine, name) == getattr(redact, name), name
    values = [
        "fraud_Kub 4652 1234 1234 1234",
        "3782-822463-10005 x",
        "2019-01-01 00:00:18",
        "0b242abb623afc578575680df30655b9",
        "0B242ABB623AFC578575680DF3065512345",
        "r-123456789",
        "x" * 129,
        28654,
        4652123412341234,
        -9999999999.5,
        1e10,
        36.0788,
        True,
        None,
        {"a": 1},
        ["b"],
    ]
    for name in ("merchant", "trans_num", "replay_id", "amt", "zip"):
        for value in values:
            assert quarantine.kept_value(name, value) == redact.kept_value(name, value), (
                name,
                value,
            )
    for cc in ("2703186189652095", 2703186189652095, "2703186189", -2703186189652095, 1.5, None):
        assert quarantine.card_last4(cc) == redact.card_last4(cc)
    # A refused record's quarantine line is redact.redacted() of it, plus reason, token and time.
    rec = {**BASE_RECORD, "merchant": "x 4652123412341234", "replay_id": "r1", "amt": -1}
    line_ = quarantine.refused_record(rec, "bad_value: amt is negative", lambda cc: "t", "now")
    expected = {k: v for k, v in redact.redacted(rec).items()}
    assert {
        k: v for k, v in line_.items() if k not in ("reason", "card_token", "quarantined_at")
    } == expected


def test_aws_sample_event_quarantines_both_records_with_reasons(caplog):
    sample = json.loads(SAMPLE_EVENT.read_text())
    with caplog.at_level("WARNING", logger="txviz.processor"):
        out = handler(sample, None)
    assert [(r["recordId"], r["result"], r["metadata"]) for r in out["records"]] == [
        (r["recordId"], "Ok", {"partitionKeys": {"zone": "quarantine"}}) for r in sample["records"]
    ]
    results = process_records(sample["records"], TEST_KEY.encode())
    assert [decode(r["data"])["reason"] for r in out["records"]] == [r.reason for r in results]
    assert results[0].reason.startswith("invalid_json:")  # "Hello World"
    assert results[1].reason == "missing_fields: " + ", ".join(schema.NDJSON_FIELDS)
    logged = [json.loads(r.getMessage()) for r in caplog.records]
    assert [(x["recordId"], x["reason"]) for x in logged] == [
        ("record1", results[0].reason),
        ("record2", results[1].reason),
    ]
    assert all(x["invocationId"] == sample["invocationId"] for x in logged)


def test_event_of_generated_records_round_trips():
    recs = [numbered(i) for i in range(50)]
    ev = event([line(r) for r in recs])
    out = handler(json.loads(json.dumps(ev)), None)
    assert [r["recordId"] for r in out["records"]] == [r["recordId"] for r in ev["records"]]
    assert {r["result"] for r in out["records"]} == {"Ok"}
    landed = [decode(r["data"]) for r in out["records"]]
    assert [x["row_id"] for x in landed] == [r["row_id"] for r in recs]
    assert [x["trans_num"] for x in landed] == [r["trans_num"] for r in recs]
    for src, x, r in zip(recs, landed, out["records"], strict=True):
        assert x["event_time"] == src["trans_date_trans_time"].replace(" ", "T") + "Z"
        assert r["metadata"]["partitionKeys"] == {"zone": "landing"}
        assert 0.0 <= x["fraud_score"] <= 1.0
        assert schema.landing_record_problem(x) is None
    # The response is JSON as Lambda serialises it.
    json.dumps(out, allow_nan=False)


def _check_contract(entries: list[Any]) -> dict[str, Any]:
    out = handler({"records": entries}, None)
    json.dumps(out, allow_nan=False)
    usable = [
        e["recordId"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("recordId"), str) and e["recordId"]
    ]
    assert [r["recordId"] for r in out["records"]] == usable
    for r in out["records"]:
        assert r["result"] in ("Ok", "Dropped")
        assert isinstance(r["data"], str)
        data = base64.b64decode(r["data"], validate=True)
        if r["result"] == "Ok" and r["metadata"]["partitionKeys"] == {"zone": "quarantine"}:
            kept = json.loads(data)
            assert ":" in kept["reason"] and kept["quarantined_at"].endswith("Z")
        elif r["result"] == "Ok":
            assert r["metadata"]["partitionKeys"] == {"zone": "landing"}
    return out


def _zones(out: dict[str, Any]) -> set[str]:
    return {r["metadata"]["partitionKeys"]["zone"] for r in out["records"] if r["result"] == "Ok"}


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@FUZZ
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_arbitrary_bytes_never_crash(payloads: list[bytes]):
    out = _check_contract([{"recordId": f"id{i}", "data": b64(p)} for i, p in enumerate(payloads)])
    assert _zones(out) <= {"quarantine"}


@FUZZ
@given(st.lists(json_values, max_size=6))
def test_arbitrary_json_values_never_crash(values: list[Any]):
    payloads = []
    for v in values:
        # Python's json writes NaN/Infinity as bare words, which is what a broken producer sends.
        payloads.append(json.dumps(v).encode())
    out = _check_contract([{"recordId": f"id{i}", "data": b64(p)} for i, p in enumerate(payloads)])
    assert _zones(out) <= {"quarantine"}


@FUZZ
@given(st.sampled_from(schema.NDJSON_FIELDS), json_values)
def test_any_value_in_any_field_is_ok_or_a_reasoned_failure(name: str, value: Any):
    rec = dict(BASE_RECORD, **{name: value})
    (res,) = process_records([{"recordId": "a", "data": b64(line(rec))}], b"k" * 16)
    assert res.result == "Ok"
    if res.zone == "landing":
        landed = decode(res.data)
        assert list(landed) == list(schema.LANDING_FIELDS)
        assert schema.landing_record_problem(landed) is None
        assert all(not isinstance(v, float) or math.isfinite(v) for v in landed.values())
    else:
        assert res.zone == "quarantine" and ":" in res.reason
        kept = decode(res.data)
        assert kept["reason"] == res.reason
        # Whatever the field held, the line keeps no personal data and no value in the reason.
        for secret in ("2703186189652095", "Jennifer", "Banks", "561 Perry Cove", "1988-03-09"):
            assert secret not in json.dumps(kept)


@FUZZ
@given(st.text(max_size=60), st.text(max_size=60))
def test_unicode_merchant_and_city(merchant: str, city: str):
    rec = dict(BASE_RECORD, merchant=merchant, city=city)
    (res,) = process_records([{"recordId": "a", "data": b64(line(rec))}], b"k" * 16)
    if res.zone == "landing":
        landed = decode(res.data)
        assert (landed["merchant"], landed["city"]) == (merchant, city)
    else:
        assert res.reason.startswith("bad_value:")


entry_shapes = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.dictionaries(
        st.sampled_from(["recordId", "data", "approximateArrivalTimestamp", "other"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=12), st.just(b64(line(BASE_RECORD)))),
        max_size=4,
    ),
)


@FUZZ
@given(st.lists(entry_shapes, max_size=8))
def test_malformed_entries_never_crash_and_usable_ids_return_once(entries: list[Any]):
    _check_contract(entries)


@FUZZ
@given(st.lists(st.integers(0, 5), max_size=12))
def test_duplicates_never_lose_a_record(picks: list[int]):
    pool = [line(numbered(i)) for i in range(3)] + [b"bad", line(numbered(9), newline=False), b""]
    entries = [{"recordId": f"id{i}", "data": b64(pool[p])} for i, p in enumerate(picks)]
    out = _check_contract(entries)
    delivered = {}
    for e, r in zip(entries, out["records"], strict=True):
        if r["result"] == "Dropped":
            # A Dropped record's bytes were delivered Ok earlier in the same response.
            assert e["data"] in delivered
        elif r["result"] == "Ok":
            delivered[e["data"]] = r["recordId"]
