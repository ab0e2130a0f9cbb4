"""Alerts reach an SNS subscriber with their JSON body and filterable attributes (moto server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from txviz_pipeline import aws
from txviz_pipeline.alerts.notify import (
    SUBJECT_MAX_CHARS,
    alert_subject,
    publish_alert,
    topic_arn,
)
from txviz_pipeline.settings import ALERTS_TOPIC, Settings


def subscribed_queue(settings: Settings, arn: str, *, filter_policy: dict | None = None) -> str:
    sqs = aws.client("sqs", settings)
    queue_url = sqs.create_queue(QueueName="txviz-alerts-test")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    attributes = {"FilterPolicy": json.dumps(filter_policy)} if filter_policy else {}
    aws.client("sns", settings).subscribe(
        TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes=attributes
    )
    return queue_url


def receive_all(settings: Settings, queue_url: str) -> list[dict]:
    response = aws.client("sqs", settings).receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
    )
    return [json.loads(m["Body"]) for m in response.get("Messages", [])]


@pytest.mark.integration
def test_alert_reaches_an_sqs_subscriber(moto_settings: Settings):
    sns = aws.client("sns", moto_settings)
    arn = topic_arn(moto_settings, sns)
    assert arn.endswith(f":{ALERTS_TOPIC}")
    assert topic_arn(moto_settings, sns) == arn, "looking the topic up twice gives the same ARN"
    queue_url = subscribed_queue(moto_settings, arn)

    message_id = publish_alert(
        sns,
        arn,
        kind="fraud_spike",
        severity="ERROR",
        title="Fraud rate 4.1% in the last 5 minutes",
        details={"fraud_rate": 0.041, "window_end": datetime(2024, 5, 1, 12, tzinfo=UTC)},
    )

    [envelope] = receive_all(moto_settings, queue_url)
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == arn
    assert envelope["Subject"] == "[txviz ERROR] Fraud rate 4.1% in the last 5 minutes"
    assert envelope["MessageAttributes"] == {
        "kind": {"Type": "String", "Value": "fraud_spike"},
        "severity": {"Type": "String", "Value": "ERROR"},
    }
    body = json.loads(envelope["Message"])
    assert body["kind"] == "fraud_spike"
    assert body["severity"] == "ERROR"
    assert body["title"] == "Fraud rate 4.1% in the last 5 minutes"
    assert body["details"] == {"fraud_rate": 0.041, "window_end": "2024-05-01 12:00:00+00:00"}
    assert body["published_at"].endswith("Z")


@pytest.mark.integration
def test_subscribers_can_filter_on_severity(moto_settings: Settings):
    sns = aws.client("sns", moto_settings)
    arn = topic_arn(moto_settings, sns)
    queue_url = subscribed_queue(moto_settings, arn, filter_policy={"severity": ["ERROR"]})

    publish_alert(sns, arn, kind="landing_check", severity="WARN", title="late", details={})
    publish_alert(sns, arn, kind="landing_check", severity="ERROR", title="lost", details={})

    received = receive_all(moto_settings, queue_url)
    assert [json.loads(m["Message"])["title"] for m in received] == ["lost"]


def test_subject_is_one_ascii_line_within_the_sns_limit():
    subject = alert_subject("WARN", "Café\nclosed: " + "x" * 200)
    assert len(subject) == SUBJECT_MAX_CHARS
    assert subject.startswith("[txviz WARN] Caf closed: xxx")
    assert subject.endswith("...")
    assert all(32 <= ord(c) < 127 for c in subject)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"severity": "INFO"}, "severity must be one of WARN, ERROR"),
        ({"kind": " "}, "kind must name"),
        ({"title": ""}, "title must not be empty"),
        ({"details": {"blob": "x" * 300_000}}, "256 KiB"),
    ],
)
def test_bad_alerts_are_refused_before_publishing(kwargs, match):
    alert = {"kind": "k", "severity": "WARN", "title": "t", "details": {}} | kwargs
    with pytest.raises(ValueError, match=match):
        publish_alert(None, "arn:aws:sns:us-east-1:123456789012:txviz-alerts", **alert)
