"""Alerts reach an SQS subscriber of the topic with their readable body and filterable
attributes, and are kept where the dashboard reads them (moto server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from txviz_pipeline import aws
from txviz_pipeline.alerts.alert import SUBJECT_MAX_CHARS, Alert, alert_subject
from txviz_pipeline.alerts.notify import Notifier, deliver, publish, topic_arn
from txviz_pipeline.alerts.store import open_alerts, recent_alerts
from txviz_pipeline.settings import ALERTS_TOPIC, Settings
from txviz_pipeline_tests.support.alerts import receive, subscribe_queue

RAISED = datetime(2026, 12, 2, 6, 51, 7, tzinfo=UTC)


def bad_rate_alert(**changes) -> Alert:
    alert = {
        "kind": "data_quality",
        "severity": "WARN",
        "title": "bad_record_rate_below_threshold warned on landing_transactions 2026/12/02/06",
        "key": "check:landing_transactions:bad_record_rate_below_threshold:2026/12/02/06",
        "asset": "landing_transactions",
        "check": "bad_record_rate_below_threshold",
        "partition": "2026/12/02/06",
        "figures": {"bad_record_rate": 0.33333, "threshold": 0.05, "bad_records": 98},
        "link": "http://127.0.0.1:3000/runs/abc",
        "raised_at": RAISED,
    }
    return Alert(**(alert | changes))


@pytest.mark.integration
def test_alert_reaches_an_sqs_subscriber_with_its_attributes(moto_settings: Settings):
    sns = aws.client("sns", moto_settings)
    arn = topic_arn(moto_settings, sns)
    assert arn.endswith(f":{ALERTS_TOPIC}")
    assert topic_arn(moto_settings, sns) == arn, "looking the topic up twice gives the same ARN"
    queue = subscribe_queue(moto_settings)

    message_id = publish(sns, arn, bad_rate_alert())

    [envelope] = receive(moto_settings, queue)
    assert envelope["MessageId"] == message_id
    assert envelope["TopicArn"] == arn
    assert envelope["Subject"] == (
        "[txviz WARN] bad_record_rate_below_threshold warned on landing_transactions 2026/12/02/06"
    )
    assert envelope["attributes"] == {
        "severity": "WARN",
        "kind": "data_quality",
        "asset": "landing_transactions",
        "check": "bad_record_rate_below_threshold",
        "partition": "2026/12/02/06",
        "status": "open",
    }
    assert envelope["Message"] == (
        "bad_record_rate_below_threshold warned on landing_transactions 2026/12/02/06\n"
        "\n"
        "Severity:  WARN\n"
        "Kind:      data_quality\n"
        "Asset:     landing_transactions\n"
        "Check:     bad_record_rate_below_threshold\n"
        "Partition: 2026/12/02/06\n"
        "\n"
        "Figures:\n"
        "  bad_record_rate: 0.33333\n"
        "  threshold: 0.05\n"
        "  bad_records: 98\n"
        "\n"
        "In Dagster: http://127.0.0.1:3000/runs/abc\n"
        "\n"
        "Raised at 2026-12-02T06:51:07Z (alert key "
        "check:landing_transactions:bad_record_rate_below_threshold:2026/12/02/06)"
    )


@pytest.mark.integration
def test_subscribers_can_filter_on_attributes(moto_settings: Settings):
    sns = aws.client("sns", moto_settings)
    arn = topic_arn(moto_settings, sns)
    queue_url = aws.client("sqs", moto_settings).create_queue(QueueName="errors-only")["QueueUrl"]
    queue_arn = aws.client("sqs", moto_settings).get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"FilterPolicy": '{"severity": ["ERROR"], "kind": ["run_failure"]}'},
    )

    publish(sns, arn, bad_rate_alert())
    publish(sns, arn, bad_rate_alert(severity="ERROR", title="lost", key="k"))
    publish(sns, arn, bad_rate_alert(severity="ERROR", kind="run_failure", title="run", key="r"))

    assert [m["Subject"] for m in receive(moto_settings, queue_url)] == ["[txviz ERROR] run"]


@pytest.mark.integration
def test_delivered_alerts_are_kept_for_the_dashboard(moto_settings: Settings):
    aws.client("s3", moto_settings).create_bucket(Bucket=moto_settings.bucket)
    queue = subscribe_queue(moto_settings)
    now = datetime.now(UTC)
    first = deliver(moto_settings, bad_rate_alert(raised_at=now))
    other = bad_rate_alert(raised_at=now, key="run:r1", kind="run_failure", severity="ERROR")
    deliver(moto_settings, other)
    resolved = bad_rate_alert(raised_at=now, status="resolved", title="passes again")
    deliver(moto_settings, resolved)

    assert len(receive(moto_settings, queue)) == 3
    recent = recent_alerts(moto_settings, limit=10)
    assert [(a["key"], a["status"]) for a in recent] == [
        (resolved.key, "resolved"),
        ("run:r1", "open"),
        (resolved.key, "open"),
    ]
    assert recent[2]["message_id"] == first
    assert recent[2]["figures"] == {
        "bad_record_rate": 0.33333,
        "threshold": 0.05,
        "bad_records": 98,
    }
    assert recent_alerts(moto_settings, limit=1) == recent[:1]
    assert [a["key"] for a in open_alerts(moto_settings)] == ["run:r1"]


def test_subject_is_one_ascii_line_within_the_sns_limit():
    subject = alert_subject("WARN", "Café\nclosed: " + "x" * 200)
    assert len(subject) == SUBJECT_MAX_CHARS
    assert subject.startswith("[txviz WARN] Caf closed: xxx")
    assert subject.endswith("...")
    assert all(32 <= ord(c) < 127 for c in subject)
    assert bad_rate_alert(status="resolved", title="t").subject() == "[txviz RESOLVED] t"


def test_long_figures_are_cut_and_odd_values_become_text():
    alert = bad_rate_alert(figures={"note": "y" * 500, "at": RAISED, "n": 3, "ok": None})
    assert alert.figures == {
        "note": "y" * 197 + "...",
        "at": "2026-12-02 06:51:07+00:00",
        "n": 3,
        "ok": None,
    }


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"severity": "INFO"}, "severity must be one of WARN, ERROR"),
        ({"status": "closed"}, "status must be one of open, resolved"),
        ({"kind": " "}, "kind must name"),
        ({"title": ""}, "title must not be empty"),
    ],
)
def test_bad_alerts_are_refused(changes, match):
    with pytest.raises(ValueError, match=match):
        bad_rate_alert(**changes)


def test_an_oversized_alert_is_refused_before_publishing():
    alert = bad_rate_alert(description="x" * 300_000)
    with pytest.raises(ValueError, match="256 KiB"):
        publish(None, "arn:aws:sns:us-east-1:123456789012:txviz-alerts", alert)


@pytest.mark.integration
def test_a_notifier_delivers_many_alerts_through_one_client_each(
    moto_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    aws.client("s3", moto_settings).create_bucket(Bucket=moto_settings.bucket)
    queue = subscribe_queue(moto_settings)
    created: list[str] = []
    real_client = aws.client

    def counting_client(service, *args, **kwargs):
        created.append(service)
        return real_client(service, *args, **kwargs)

    monkeypatch.setattr(aws, "client", counting_client)
    notifier = Notifier(moto_settings)
    alerts = [bad_rate_alert(key=f"card_burst:{i}", kind="card_burst") for i in range(5)]
    ids = [notifier.deliver(alert) for alert in alerts]

    assert sorted(created) == ["s3", "sns"]
    assert sorted(e["MessageId"] for e in receive(moto_settings, queue)) == sorted(ids)
    assert len(recent_alerts(moto_settings)) == 5
