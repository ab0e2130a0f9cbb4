"""The bad-input corpus (bad_records.json): every case ends as its expected result and reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from handler import handler
from records import process_records

from .builders import TEST_KEY

CORPUS = json.loads((Path(__file__).parent / "bad_records.json").read_text(encoding="utf-8"))
CASES = CORPUS["cases"]


def build_data(case: dict[str, Any]) -> str:
    """The Firehose record's base64 data for one corpus case."""
    if "data" in case:
        return case["data"]
    if "b64" in case:
        return case["b64"]
    if "raw" in case:
        payload = case["raw"].encode("utf-8")
    elif "repeat" in case:
        payload = "".join(text * times for text, times in case["repeat"]).encode("utf-8")
    else:
        rec = {k: v for k, v in CORPUS["base_record"].items() if k not in case.get("remove", [])}
        rec.update(case.get("patch", {}))
        text = json.dumps(rec)
        if "replace" in case:
            old, new = case["replace"]
            assert old in text, f"{case['name']}: {old!r} is not in the base line"
            text = text.replace(old, new)
        payload = (text + ("\n" if case.get("newline", True) else "")).encode("utf-8")
    return base64.b64encode(payload).decode("ascii")


def test_corpus_is_big_enough_and_names_are_unique():
    refused = [c for c in CASES if c["expected_result"] == "quarantine"]
    assert len(refused) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)


# What of the base record must never leave the processor: card number, names, street, birth date.
PERSONAL = [
    str(CORPUS["base_record"][name]).encode() for name in ("cc_num", "first", "last", "street")
] + [b"1988-03-09", b"Perry"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_case(case: dict[str, Any]):
    data = build_data(case)
    copies = 2 if case.get("twice") else 1
    entries = [{"recordId": f"{case['name']}-{i}", "data": data} for i in range(copies)]
    out = handler({"records": entries}, None)
    assert [r["recordId"] for r in out["records"]] == [e["recordId"] for e in entries]
    response = out["records"][-1]
    (result,) = process_records(entries, TEST_KEY.encode())[-1:]
    expected = case["expected_result"]
    if expected == "Dropped":
        assert response["result"] == result.result == "Dropped", result.reason
        assert case["expected_reason"] in result.reason
        return
    # Every other record comes back Ok, routed by its zone; none leaves as it arrived.
    assert response["result"] == "Ok"
    assert response["metadata"] == {"partitionKeys": {"zone": expected}}, result.reason
    written = base64.b64decode(response["data"])
    assert not any(p in written for p in PERSONAL), written[:300]
    if expected == "landing":
        assert result.reason is None
        return
    assert case["expected_reason"] in result.reason
    kept = json.loads(written)
    assert kept["reason"] == result.reason[:240]
    assert kept["quarantined_at"].endswith("Z")
