"""The processor hook's pure parts: Firehose prefixes, a destination's Lambda ARN, error records."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from txviz_pipeline import settings
from txviz_pipeline.stack import processor_hook as hook
from txviz_pipeline.stack.lambda_runtime import Outcome

WHEN = datetime(2024, 3, 5, 7, 9, 11, tzinfo=UTC)
ARN = "arn:aws:lambda:us-east-1:123456789012:function:txviz-processor"


def test_error_prefix_template_renders_like_firehose():
    rendered = hook.render_prefix(
        settings.ERROR_PREFIX_TEMPLATE, when=WHEN, error_output_type="processing-failed"
    )
    assert rendered == "errors/processing-failed/2024/03/05/07/"
    assert rendered.startswith(settings.PROCESSING_FAILED_PREFIX)


def test_prefix_without_timestamp_gets_the_default_hour_appended():
    assert hook.render_prefix("landing", when=WHEN) == "landing/2024/03/05/07/"
    assert hook.render_prefix("", when=WHEN) == "2024/03/05/07/"
    assert (
        hook.render_prefix("e/!{firehose:error-output-type}/", when=WHEN, error_output_type="x")
        == "e/x/2024/03/05/07/"
    )


def test_timestamp_expression_takes_java_patterns():
    assert hook.render_prefix("a/!{timestamp:yyyy-MM-dd}/", when=WHEN) == "a/2024-03-05/"
    assert hook.render_prefix("!{timestamp:yy/HH:mm:ss}/", when=WHEN) == "24/07:09:11/"


def test_delivery_prefix_routes_by_the_processors_zone_key():
    template = settings.DELIVERY_PREFIX_TEMPLATE
    landing = hook.render_prefix(template, when=WHEN, partition_keys={"zone": "landing"})
    assert landing == f"{settings.LANDING_PREFIX}2024/03/05/07/"
    quarantine = hook.render_prefix(template, when=WHEN, partition_keys={"zone": "quarantine"})
    assert quarantine == f"{settings.QUARANTINE_PREFIX}2024/03/05/07/"
    for keys in ({}, {"zone": ""}, {"other": "landing"}):
        with pytest.raises(hook.PartitioningError, match="'zone'"):
            hook.render_prefix(template, when=WHEN, partition_keys=keys)


def test_ok_records_group_by_prefix_and_unkeyed_ones_fail_partitioning():
    outcomes = [
        Outcome("a", "Ok", b"1\n", partition_keys={"zone": "landing"}),
        Outcome("b", "Ok", b"2\n", partition_keys={"zone": "quarantine"}),
        Outcome("c", "ProcessingFailed"),
        Outcome("d", "Ok", b"4\n"),
        Outcome("e", "Ok", b"5\n", partition_keys={"zone": "landing"}),
    ]
    groups, failed = hook.partition_ok_records(
        outcomes, settings.DELIVERY_PREFIX_TEMPLATE, WHEN, dynamic=True
    )
    assert {p: [o.record_id for o in os] for p, os in groups.items()} == {
        "landing/2024/03/05/07/": ["a", "e"],
        "quarantine/2024/03/05/07/": ["b"],
    }
    assert [o.record_id for o in failed] == ["d"]
    assert failed[0].error_code == hook.ERR_PARTITION_KEY


def test_unknown_or_misplaced_expressions_are_errors():
    with pytest.raises(ValueError, match="unsupported"):
        hook.render_prefix("!{partitionKeyFromQuery:x}/", when=WHEN)
    # Without dynamic partitioning, a Lambda key is not available at all.
    with pytest.raises(ValueError, match="unsupported"):
        hook.render_prefix("!{partitionKeyFromLambda:zone}/", when=WHEN)
    with pytest.raises(ValueError, match="error prefix"):
        hook.render_prefix("!{firehose:error-output-type}/", when=WHEN)


def test_lambda_arn_only_for_an_enabled_lambda_processor():
    def dest(enabled: bool, kind: str = "Lambda") -> dict:
        params = [{"ParameterName": "LambdaArn", "ParameterValue": ARN}]
        processors = [{"Type": kind, "Parameters": params}]
        return {"ProcessingConfiguration": {"Enabled": enabled, "Processors": processors}}

    assert hook.lambda_arn(dest(True)) == ARN
    assert hook.lambda_arn(dest(False)) is None
    assert hook.lambda_arn(dest(True, "RecordDeAggregation")) is None
    assert hook.lambda_arn({"Prefix": "x/"}) is None


def test_error_record_has_aws_fields():
    outcome = Outcome("id", "ProcessingFailed", error_code="C", error_message="why")
    rec = hook.error_record(b"raw\n", outcome, 1, 2, ARN)
    assert rec == {
        "attemptsMade": 1,
        "arrivalTimestamp": 1,
        "errorCode": "C",
        "errorMessage": "why",
        "attemptEndingTimestamp": 2,
        "rawData": base64.b64encode(b"raw\n").decode(),
        "lambdaArn": ARN,
    }
