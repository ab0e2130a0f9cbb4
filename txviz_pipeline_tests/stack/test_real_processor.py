"""The embedded stack running lambda/handler.py on real Firehose deliveries."""

from __future__ import annotations

import json

import pytest

from txviz_pipeline import aws, settings
from txviz_pipeline.stack.control import StackInfo
from txviz_pipeline_tests.processor.builders import line, numbered, record
from txviz_pipeline_tests.stack.stack_helpers import (
    empty_bucket,
    objects,
    processor_stats,
)

pytestmark = pytest.mark.integration


def test_processor_lands_valid_records_and_routes_invalid_ones(
    embedded_stack: StackInfo, monkeypatch: pytest.MonkeyPatch
):
    for key, value in embedded_stack.env.items():
        monkeypatch.setenv(key, value)
    s = embedded_stack.settings
    s3, firehose = aws.client("s3", s), aws.client("firehose", s)
    empty_bucket(s3, s.bucket)
    before = processor_stats(embedded_stack).get(settings.DELIVERY_STREAM, {})
    valid = [line(numbered(i)) for i in range(3)]
    invalid = line(record(amt="lots"))
    resp = firehose.put_record_batch(
        DeliveryStreamName=s.delivery_stream,
        Records=[{"Data": d} for d in [*valid, invalid, valid[0]]],
    )
    assert resp["FailedPutCount"] == 0

    [landing] = objects(s3, s.bucket, settings.LANDING_PREFIX).values()
    landed = [json.loads(x) for x in landing.decode().splitlines()]
    assert [r["row_id"] for r in landed] == [0, 1, 2]
    for rec in landed:
        assert rec["card_last4"] == "2095" and "cc_num" not in rec
        assert len(rec["card_token"]) >= 16 and "first" not in rec

    # The refused record is quarantined, redacted; nothing is written under errors/.
    [quarantined] = objects(s3, s.bucket, settings.QUARANTINE_PREFIX).values()
    [kept] = [json.loads(x) for x in quarantined.decode().splitlines()]
    assert kept["reason"] == "bad_type: amt is a string, expected a number"
    assert (kept["row_id"], kept["card_last4"], kept["amt"]) == (0, "2095", "[redacted]")
    assert kept["card_token"] == landed[0]["card_token"]
    for secret in (b"2703186189652095", b"Jennifer", b"Perry Cove", b"1988-03-09"):
        assert secret not in quarantined
    assert objects(s3, s.bucket, "errors/") == {}

    after = processor_stats(embedded_stack)[settings.DELIVERY_STREAM]
    keys = ("records_in", "ok", "processing_failed", "partitioning_failed")
    delta = {k: after[k] - before.get(k, 0) for k in keys}
    assert delta == {"records_in": 5, "ok": 4, "processing_failed": 0, "partitioning_failed": 0}
    assert after["dropped"] - before.get("dropped", 0) == 1  # the byte-identical repeat
