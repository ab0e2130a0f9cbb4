"""The bad-input corpus (bad_records.json): every case ends as its expected result and reason."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from handler import CARD_TOKEN_KEY_ENV, handler
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
    failures = [c for c in CASES if c["expected_result"] == "ProcessingFailed"]
    assert len(failures) >= 30
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_corpus_case(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(CARD_TOKEN_KEY_ENV, TEST_KEY)
    data = build_data(case)
    copies = 2 if case.get("twice") else 1
    entries = [{"recordId": f"{case['name']}-{i}", "data": data} for i in range(copies)]
    out = handler({"records": entries}, None)
    assert [r["recordId"] for r in out["records"]] == [e["recordId"] for e in entries]
    response = out["records"][-1]
    (result,) = process_records(entries, TEST_KEY.encode())[-1:]
    assert response["result"] == result.result == case["expected_result"], result.reason
    if case["expected_result"] == "Ok":
        assert result.reason is None
        return
    assert case["expected_reason"] in result.reason
    # Firehose writes a failed record's data as it arrived to the error prefix; data that was
    # not base64 (only a non-Firehose caller sends it) comes back as base64 of its text.
    if case["expected_reason"].startswith("not_base64"):
        assert base64.b64decode(response["data"]) == data.encode()
    else:
        assert response["data"] == data
