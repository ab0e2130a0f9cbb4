"""The Firehose response stays within Lambda's 6 MB, whatever the batch holds."""

from __future__ import annotations

import base64
import json

import pytest
from handler import handler
from records import process_records
from response import LAMBDA_PAYLOAD_LIMIT, Result, entry_size

from .builders import (
    KEY,
    NOW,
    b64,
    decode,
    line,
    numbered,
    run,
)


def test_response_budget_shortens_the_overflow_to_quarantine_lines():
    recs = [line({**numbered(i), "replay_id": "r1"}) for i in range(10)]
    full = run(*recs, recs[9])
    budget = sum(entry_size(r) for r in full) - 1
    # A response of exactly the budget fits; one byte less does not.
    assert run(*recs, recs[9], response_budget=budget + 1) == full
    fitted = run(*recs, recs[9], response_budget=budget)
    assert sum(entry_size(r) for r in fitted) <= budget
    assert [r.zone for r in fitted[:9]] == ["landing"] * 9
    # The last valid record becomes a short quarantine line, never ProcessingFailed with its data.
    assert (fitted[9].result, fitted[9].zone) == ("Ok", "quarantine")
    assert fitted[9].reason.startswith("response_limit:")
    landing = decode(full[9].data)
    assert decode(fitted[9].data) == {
        "reason": fitted[9].reason,
        **{k: landing[k] for k in ("row_id", "trans_num", "replay_id", "card_last4", "card_token")},
        "quarantined_at": "2024-06-01T12:00:00.123Z",
    }
    # Its byte-twin stays Dropped: the quarantine line accounts for the row.
    assert full[10].result == fitted[10].result == "Dropped"


def test_flood_of_tiny_records_falls_back_to_processing_failed_only_past_the_short_lines():
    # A response entry carries more framing than an input entry, so only when even the short
    # quarantine lines cannot fit does a record return ProcessingFailed (Firehose's error prefix).
    recs = [b"{}"] * 1 + [b"[%d]" % i for i in range(40)]
    full = run(*recs)
    short_total = sum(entry_size(r) for r in full)
    fitted = run(*recs, response_budget=short_total // 3)
    assert sum(entry_size(r) for r in fitted) <= short_total // 3
    results = [r.result for r in fitted]
    assert "ProcessingFailed" in results and "Ok" in results
    failed = next(r for r in fitted if r.result == "ProcessingFailed")
    assert failed.reason.startswith("not_object:")


def _event_of_size(limit: int, **changes) -> dict:
    """Distinct records (valid unless ``changes`` say otherwise), json.dumps-formatted like the
    replay, up to ``limit`` bytes."""
    entries, size, i = [], len('{"invocationId": "x", "records": []}'), 0
    while True:
        data = b64(line(numbered(i, **changes)))
        entry = {
            "recordId": f"{i:020d}",
            "approximateArrivalTimestamp": 1664029185290,
            "data": data,
        }
        grown = size + len(json.dumps(entry)) + 2
        if grown > limit:
            return {"invocationId": "x", "records": entries}
        entries.append(entry)
        size, i = grown, i + 1


def test_response_stays_under_6_mb_for_a_6_mb_event():
    # A landing line is longer than the replay's line (token, features, score), so an event at
    # Lambda's 6 MB request limit cannot all land: the overflow becomes short quarantine lines.
    ev = _event_of_size(LAMBDA_PAYLOAD_LIMIT)
    assert LAMBDA_PAYLOAD_LIMIT - 2000 < len(json.dumps(ev)) <= LAMBDA_PAYLOAD_LIMIT
    out = handler(ev, None)
    assert len(json.dumps(out)) <= LAMBDA_PAYLOAD_LIMIT
    assert [r["recordId"] for r in out["records"]] == [e["recordId"] for e in ev["records"]]
    assert {r["result"] for r in out["records"]} == {"Ok"}
    zones = [r["metadata"]["partitionKeys"]["zone"] for r in out["records"]]
    quarantined = [i for i, zone in enumerate(zones) if zone == "quarantine"]
    assert 0 < len(quarantined) < len(zones)
    # Records land in order until one does not fit; past that point a shorter landing line
    # may still fit, so the overflow is the tail apart from those.
    assert zones[: quarantined[0]] == ["landing"] * quarantined[0]
    assert quarantined[-1] == len(zones) - 1
    results = process_records(ev["records"], KEY)
    assert all(results[i].reason.startswith("response_limit:") for i in quarantined)
    assert [decode(results[i].data)["row_id"] for i in quarantined] == quarantined


def test_a_6_mb_event_of_refused_records_is_quarantined_within_the_limit():
    ev = _event_of_size(LAMBDA_PAYLOAD_LIMIT, state="North Carolina", replay_id="r1")
    out = handler(ev, None)
    assert len(json.dumps(out)) <= LAMBDA_PAYLOAD_LIMIT
    assert [r["recordId"] for r in out["records"]] == [e["recordId"] for e in ev["records"]]
    assert {r["result"] for r in out["records"]} == {"Ok"}
    assert {r["metadata"]["partitionKeys"]["zone"] for r in out["records"]} == {"quarantine"}
    # Every line still names its row and reason, in full or short form.
    for i, r in enumerate(out["records"]):
        kept = decode(r["data"])
        assert (kept["row_id"], kept["reason"]) == (
            i,
            "bad_value: state is not two capital letters",
        )


@pytest.mark.parametrize("buffer_mb", [1, 3])
def test_firehose_processor_buffer_comes_back_all_ok(buffer_mb: int):
    # Firehose hands the Lambda at most BufferSizeInMBs (0.2-3 MB, default 1 MB) of record data.
    ev = _event_of_size(LAMBDA_PAYLOAD_LIMIT)
    raw, entries = 0, []
    for entry in ev["records"]:
        raw += len(base64.b64decode(entry["data"]))
        if raw > buffer_mb * 1_000_000:
            break
        entries.append(entry)
    out = handler({"records": entries}, None)
    assert {r["metadata"]["partitionKeys"]["zone"] for r in out["records"]} == {"landing"}
    assert len(json.dumps(out)) <= LAMBDA_PAYLOAD_LIMIT


def test_entry_size_matches_the_serialised_response():
    entries = [
        {"recordId": 'quote"d \u00e9\U0001f950', "data": b64(line(numbered(1)))},
        {"recordId": "dup", "data": b64(line(numbered(1)))},
        {"recordId": "bad", "data": b64(b"nope")},
    ]
    results = process_records(entries, KEY, now=NOW)
    assert [(r.result, r.zone) for r in results] == [
        ("Ok", "landing"),
        ("Dropped", None),
        ("Ok", "quarantine"),
    ]
    failed = Result("bad", "ProcessingFailed", results[2].data, "x")
    for r in [*results, failed]:
        assert entry_size(r) == len(json.dumps(r.to_firehose())) + 2
