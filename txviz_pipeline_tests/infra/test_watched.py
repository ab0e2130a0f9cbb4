"""infra/template.yaml is watched and locked down: alarms to the alerts topic, one customer
managed key for what lives outside S3, versioned and access-logged storage, and inline reasons
for every checkov skip.
"""

from __future__ import annotations

from typing import Any

import pytest

from txviz_pipeline import settings

FIVE_MINUTES = 300


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == kind
    }


def alarm_on(template: dict[str, Any], namespace: str, metric: str) -> dict[str, Any]:
    [alarm] = [
        a
        for a in resources_of(template, "AWS::CloudWatch::Alarm").values()
        if (a["Namespace"], a["MetricName"]) == (namespace, metric)
    ]
    return alarm


def test_every_alarm_notifies_the_alerts_topic_and_ignores_idle_periods(template):
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 5
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}], name
        assert alarm["OKActions"] == [{"Ref": "AlertsTopic"}], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["Period"] == FIVE_MINUTES, name
        assert alarm["AlarmDescription"], name


@pytest.mark.parametrize(
    ("metric", "statistic", "operator", "threshold", "periods"),
    [
        # Normal freshness is 2-3 minutes (two 60 s buffers); 15 minutes twice is stuck.
        ("DeliveryToS3.DataFreshness", "Maximum", "GreaterThanThreshold", 900, 2),
        # A failed S3 put in each of three periods in a row.
        ("DeliveryToS3.Success", "Minimum", "LessThanThreshold", 1, 3),
        # Any failed processor invocation (its batch would go raw to errors/processing-failed/).
        ("ExecuteProcessing.Success", "Minimum", "LessThanThreshold", 1, 1),
    ],
)
def test_firehose_alarms(template, metric, statistic, operator, threshold, periods):
    alarm = alarm_on(template, "AWS/Firehose", metric)
    assert alarm["Dimensions"] == [
        {"Name": "DeliveryStreamName", "Value": {"Ref": "DeliveryStream"}}
    ]
    assert (alarm["Statistic"], alarm["ComparisonOperator"]) == (statistic, operator)
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (threshold, periods)


@pytest.mark.parametrize(("metric", "periods"), [("Errors", 1), ("Throttles", 2)])
def test_processor_alarms(template, metric, periods):
    alarm = alarm_on(template, "AWS/Lambda", metric)
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "ProcessorFunction"}}]
    assert alarm["Statistic"] == "Sum"
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (alarm["Threshold"], alarm["EvaluationPeriods"]) == (1, periods)


def test_the_processor_has_a_concurrency_ceiling_that_can_be_turned_off(template):
    function = template["Resources"]["ProcessorFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "ReservesConcurrency",
            {"Ref": "ProcessorReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    parameter = template["Parameters"]["ProcessorReservedConcurrency"]
    assert parameter["Default"] == 20
    assert parameter["MinValue"] == 0


def test_one_retained_rotating_key_encrypts_everything_outside_s3(template):
    key = template["Resources"]["DataKey"]
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    assert key["Properties"]["EnableKeyRotation"] is True
    arn = {"Fn::GetAtt": ["DataKey", "Arn"]}
    resources = template["Resources"]
    assert resources["CardTokenKeySecret"]["Properties"]["KmsKeyId"] == {"Ref": "DataKey"}
    assert resources["AlertsTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "DataKey"}
    assert resources["ProcessorFunction"]["Properties"]["KmsKeyArn"] == arn
    log_groups = resources_of(template, "AWS::Logs::LogGroup")
    assert {name: g["KmsKeyId"] for name, g in log_groups.items()} == {
        "ProcessorLogGroup": arn,
        "DeliveryLogGroup": arn,
    }


def test_the_key_lets_alarms_publish_and_logs_encrypt_only_txviz_log_groups(template):
    statements = {
        s["Sid"]: s
        for s in template["Resources"]["DataKey"]["Properties"]["KeyPolicy"]["Statement"]
    }
    assert set(statements) == {
        "AccountIamPolicies",
        "CloudWatchLogsForTxvizLogGroups",
        "CloudWatchAlarmsToAlertsTopic",
    }
    alarms = statements["CloudWatchAlarmsToAlertsTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert alarms["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    logs = statements["CloudWatchLogsForTxvizLogGroups"]
    [groups] = logs["Condition"]["ArnLike"].values()
    assert [g["Fn::Sub"].rsplit(":log-group:", 1)[1] for g in groups] == [
        f"/aws/lambda/{settings.PROCESSOR_FUNCTION}",
        "/aws/kinesisfirehose/${DeliveryStreamName}",
    ]


def test_the_transactions_bucket_is_versioned_and_access_logged(template):
    bucket = template["Resources"]["TransactionsBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "AccessLogsBucket"},
        "LogFilePrefix": "transactions/",
    }
    [previous] = [
        r for r in bucket["LifecycleConfiguration"]["Rules"] if "NoncurrentVersionExpiration" in r
    ]
    assert "Prefix" not in previous  # the whole bucket
    assert previous["NoncurrentVersionExpiration"] == {
        "NoncurrentDays": {"Ref": "NoncurrentVersionRetentionDays"}
    }
    assert previous["ExpiredObjectDeleteMarker"] is True
    logs = template["Resources"]["AccessLogsBucket"]
    assert logs["DeletionPolicy"] == "Retain"
    [rule] = logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}  # S3 logs need it
    [write] = [
        s
        for s in template["Resources"]["AccessLogsBucketPolicy"]["Properties"]["PolicyDocument"][
            "Statement"
        ]
        if s["Effect"] == "Allow"
    ]
    assert write["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert write["Action"] == "s3:PutObject"
    assert write["Resource"] == {"Fn::Sub": "${AccessLogsBucket.Arn}/transactions/*"}


def test_every_checkov_skip_says_why(template):
    skips = [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert sorted((logical_id, skip["id"]) for logical_id, skip in skips) == [
        ("AccessLogsBucket", "CKV_AWS_18"),
        ("ProcessorFunction", "CKV_AWS_116"),
        ("ProcessorFunction", "CKV_AWS_117"),
    ]
    assert all(len(skip["comment"]) > 80 for _, skip in skips)
