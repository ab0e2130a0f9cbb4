"""Publish txviz alerts to SNS as JSON, with attributes subscribers can filter on.

Every alert carries ``kind`` (what raised it, e.g. ``fraud_spike`` or ``landing_check``) and
``severity`` both in the JSON body and as message attributes, so an SQS queue or an e-mail
subscription can take only the alerts it wants with an SNS filter policy.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

from txviz_pipeline import aws
from txviz_pipeline.settings import ALERTS_TOPIC, Settings

log = logging.getLogger(__name__)

Severity = Literal["WARN", "ERROR"]
SEVERITIES: tuple[str, ...] = ("WARN", "ERROR")
# SNS limits: e-mail subjects are ASCII without line breaks, at most 100 characters; a message
# is at most 256 KiB including its attributes.
SUBJECT_MAX_CHARS = 100
MESSAGE_MAX_BYTES = 256 * 1024 - 1024
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]+")


def alert_subject(severity: str, title: str) -> str:
    """The SNS subject for an alert: printable ASCII, one line, at most 100 characters."""
    subject = _NOT_SUBJECT_SAFE.sub(" ", f"[txviz {severity}] {title}").strip()
    subject = re.sub(r" {2,}", " ", subject)
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return subject


def alert_message(*, kind: str, severity: str, title: str, details: dict[str, Any]) -> str:
    """The JSON body of an alert; values JSON cannot hold (datetimes, paths) become strings."""
    return json.dumps(
        {
            "kind": kind,
            "severity": severity,
            "title": title,
            "details": details,
            "published_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        default=str,
        ensure_ascii=False,
    )


def publish_alert(
    sns_client: Any,
    topic_arn: str,
    *,
    kind: str,
    severity: Severity,
    title: str,
    details: dict[str, Any],
) -> str:
    """Publish one alert to ``topic_arn`` and return SNS's message id."""
    if severity not in SEVERITIES:
        raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
    if not kind or not kind.strip():
        raise ValueError("kind must name what raised the alert, e.g. 'fraud_spike'")
    if not title or not title.strip():
        raise ValueError("title must not be empty")
    message = alert_message(kind=kind, severity=severity, title=title, details=details)
    size = len(message.encode("utf-8"))
    if size > MESSAGE_MAX_BYTES:
        raise ValueError(
            f"alert {kind!r} is {size} bytes, over SNS's 256 KiB message limit; "
            "put a summary in details and link to the full data instead"
        )
    response = sns_client.publish(
        TopicArn=topic_arn,
        Subject=alert_subject(severity, title),
        Message=message,
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": kind},
            "severity": {"DataType": "String", "StringValue": severity},
        },
    )
    message_id = response["MessageId"]
    log.info("published %s alert %s (%s): %s", severity, kind, message_id, title)
    return message_id


def topic_arn(settings: Settings, sns_client: Any | None = None) -> str:
    """The alerts topic's ARN, looked up by name (CreateTopic returns an existing topic's ARN)."""
    sns_client = sns_client or aws.client("sns", settings)
    return sns_client.create_topic(Name=ALERTS_TOPIC)["TopicArn"]
