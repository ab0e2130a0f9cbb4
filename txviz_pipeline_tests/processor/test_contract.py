"""The processor against AWS's contract: AWS's sample event, the shared schema, and fuzzing."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

import pytest
import scoring
import validate
from handler import CARD_TOKEN_KEY_ENV, handler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from records import process_records

from txviz_pipeline import schema

from .builders import BASE_RECORD, TEST_KEY, b64, decode, event, line, numbered

SAMPLE_EVENT = Path(__file__).with_name("fixtures") / "direct-put-event.json"


@pytest.fixture(autouse=True)
def card_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, TEST_KEY)


def test_lambda_schema_agrees():
    assert validate.NDJSON_FIELDS == schema.NDJSON_FIELDS
    assert validate.CATEGORIES == schema.CATEGORIES
    assert validate.REPLAY_ID_FIELD == schema.REPLAY_ID_FIELD
    assert validate.REPLAY_ID_PATTERN == schema.REPLAY_ID_PATTERN
    assert set(scoring.HIGH_AMOUNT_FOR_CATEGORY) == set(schema.CATEGORIES)
    assert set(schema.CATEGORIES) >= scoring.HIGH_RISK_CATEGORIES


def test_aws_sample_event_fails_both_records_with_reasons(caplog):
    sample = json.loads(SAMPLE_EVENT.read_text())
    with caplog.at_level("WARNING", logger="txviz.processor"):
        out = handler(sample, None)
    assert out["records"] == [
        {"recordId": r["recordId"], "result": "ProcessingFailed", "data": r["data"]}
        for r in sample["records"]
    ]
    results = process_records(sample["records"], TEST_KEY.encode())
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
        day, hour = x["event_time"][:10].split("-"), x["event_time"][11:13]
        assert r["metadata"]["partitionKeys"] == {
            "event_year": day[0],
            "event_month": day[1],
            "event_day": day[2],
            "event_hour": hour,
        }
        assert 0.0 <= x["fraud_score"] <= 1.0
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
        assert r["result"] in ("Ok", "Dropped", "ProcessingFailed")
        assert isinstance(r["data"], str)
        base64.b64decode(r["data"], validate=True)
    return out


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
    assert all(r["result"] == "ProcessingFailed" for r in out["records"])


@FUZZ
@given(st.lists(json_values, max_size=6))
def test_arbitrary_json_values_never_crash(values: list[Any]):
    payloads = []
    for v in values:
        # Python's json writes NaN/Infinity as bare words, which is what a broken producer sends.
        payloads.append(json.dumps(v).encode())
    out = _check_contract([{"recordId": f"id{i}", "data": b64(p)} for i, p in enumerate(payloads)])
    assert all(r["result"] == "ProcessingFailed" for r in out["records"])


@FUZZ
@given(st.sampled_from(schema.NDJSON_FIELDS), json_values)
def test_any_value_in_any_field_is_ok_or_a_reasoned_failure(name: str, value: Any):
    rec = dict(BASE_RECORD, **{name: value})
    (res,) = process_records([{"recordId": "a", "data": b64(line(rec))}], b"k" * 16)
    if res.result == "Ok":
        landed = decode(res.data)
        assert list(landed) == list(schema.LANDING_FIELDS)
        assert all(not isinstance(v, float) or math.isfinite(v) for v in landed.values())
    else:
        assert res.result == "ProcessingFailed" and ":" in res.reason


@FUZZ
@given(st.text(max_size=60), st.text(max_size=60))
def test_unicode_merchant_and_city(merchant: str, city: str):
    rec = dict(BASE_RECORD, merchant=merchant, city=city)
    (res,) = process_records([{"recordId": "a", "data": b64(line(rec))}], b"k" * 16)
    if res.result == "Ok":
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
