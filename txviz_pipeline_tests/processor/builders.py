"""Valid replay records and Firehose events built by hand (no dependency on the generator)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from cardstore import MemoryCardStore
from records import process_records
from response import Result

TEST_KEY = "test-card-token-key-0123456789"
STREAM_ARN = "arn:aws:firehose:us-east-1:123456789012:deliverystream/txviz-transactions"

# The cardholder's home and job in Sparkov's first row: the processor passes these fields
# through to the landing record unchanged.
CARDHOLDER: dict[str, Any] = {
    "city": "Moravian Falls",
    "state": "NC",
    "zip": "28654",
    "lat": 36.0788,
    "long": -81.1781,
    "city_pop": 3495,
    "job": "Psychologist, counselling",
}

# A row in the exact shape of the replay's NDJSON (schema.NDJSON_FIELDS, in order), taken from
# the first row of Sparkov's fraudTrain.csv with the cardholder's personal fields replaced.
BASE_RECORD: dict[str, Any] = {
    "row_id": 0,
    "trans_date_trans_time": "2019-01-01 00:00:18",
    "cc_num": "2703186189652095",
    "merchant": "fraud_Rippin, Kub and Mann",
    "category": "misc_net",
    "amt": 4.97,
    "first": "Jennifer",
    "last": "Banks",
    "gender": "F",
    "street": "561 Perry Cove",
    **CARDHOLDER,
    "dob": "1988-03-09",
    "trans_num": "0b242abb623afc578575680df30655b9",
    "unix_time": 1325376018,
    "merch_lat": 36.011293,
    "merch_long": -82.048315,
    "is_fraud": 0,
}


def record(**changes: Any) -> dict[str, Any]:
    """BASE_RECORD with some fields changed (key order kept)."""
    out = dict(BASE_RECORD)
    out.update(changes)
    return out


def numbered(i: int, **changes: Any) -> dict[str, Any]:
    """A distinct valid record: row_id, trans_num, time and amount vary with i."""
    return record(
        row_id=i,
        trans_num=f"{i:032x}",
        trans_date_trans_time=f"2019-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00",
        amt=round(1 + (i * 37 % 120000) / 100, 2),
        unix_time=1325376018 + i,
        **changes,
    )


def line(rec: dict[str, Any], newline: bool = True) -> bytes:
    """One NDJSON line as the replay writes it."""
    return (json.dumps(rec) + ("\n" if newline else "")).encode("utf-8")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def event(payloads: list[bytes], ids: list[str] | None = None) -> dict[str, Any]:
    """A Direct PUT transformation event with one record per payload."""
    ids = ids or [f"record-{i}" for i in range(len(payloads))]
    return {
        "invocationId": "00000000-0000-0000-0000-000000000000",
        "deliveryStreamArn": STREAM_ARN,
        "region": "us-east-1",
        "records": [
            {"recordId": rid, "approximateArrivalTimestamp": 1664029185290, "data": b64(p)}
            for rid, p in zip(ids, payloads, strict=True)
        ],
    }


def decode(data: str) -> dict[str, Any]:
    """The landing record inside an Ok response record's data."""
    raw = base64.b64decode(data)
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    return json.loads(raw)


NOW = datetime(2024, 6, 1, 12, 0, 0, 123000, tzinfo=UTC)
KEY = TEST_KEY.encode()


def run(*records: dict | bytes, **kwargs) -> list[Result]:
    """``records`` through the processor as one Firehose batch at ``NOW``."""
    entries = [
        {"recordId": f"r{i}", "data": b64(r if isinstance(r, bytes) else line(r))}
        for i, r in enumerate(records)
    ]
    # Each batch meets cards never seen, so a batch scores the same whatever ran before it.
    kwargs.setdefault("store", MemoryCardStore())
    return process_records(entries, KEY, now=NOW, **kwargs)


def one(rec: dict | bytes) -> Result:
    (res,) = run(rec)
    return res
