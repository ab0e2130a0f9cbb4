"""The embedded stack running lambda/handler.py on real Firehose deliveries."""

from __future__ import annotations

import base64
import json

import pytest

from txviz_pipeline import aws, settings
from txviz_pipeline.stack.control import StackInfo
from txviz_pipeline_tests.processor.builders import line, numbered, record
from txviz_pipeline_tests.stack.stack_helpers import (
    empty_bucket,
    error_lines,
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

    [errors] = objects(s3, s.bucket, settings.PROCESSING_FAILED_PREFIX).values()
    [failure] = error_lines(errors)
    assert base64.b64decode(failure["rawData"]) == invalid
    assert failure["errorCode"] == "Lambda.ProcessingFailedStatus"
    assert "amt" in failure["errorMessage"]

    after = processor_stats(embedded_stack)[settings.DELIVERY_STREAM]
    delta = {k: after[k] - before.get(k, 0) for k in ("records_in", "ok", "processing_failed")}
    assert delta == {"records_in": 5, "ok": 3, "processing_failed": 1}
    assert after["dropped"] - before.get("dropped", 0) == 1  # the byte-identical repeat
