"""Publish an alert to the SNS alerts topic and keep a copy where the dashboard reads it.

The message is the alert's readable body; ``severity``, ``kind``, ``asset``, ``check``,
``partition`` and ``status`` travel as message attributes, so an SQS queue, an e-mail address or
a webhook can take only the alerts it wants with an SNS filter policy.
"""

from __future__ import annotations

import logging
from typing import Any

from txviz_pipeline import aws
from txviz_pipeline.alerts import store
from txviz_pipeline.alerts.alert import Alert
from txviz_pipeline.settings import ALERTS_TOPIC, Settings

log = logging.getLogger(__name__)

# SNS: a message is at most 256 KiB including its attributes.
MESSAGE_MAX_BYTES = 256 * 1024 - 1024


def publish(sns_client: Any, topic_arn: str, alert: Alert) -> str:
    """Publish ``alert`` to ``topic_arn`` and return SNS's message id."""
    body = alert.body()
    size = len(body.encode("utf-8"))
    if size > MESSAGE_MAX_BYTES:
        raise ValueError(
            f"alert {alert.kind!r} is {size} bytes, over SNS's 256 KiB message limit; "
            "put a summary in its figures and link to the full data instead"
        )
    response = sns_client.publish(
        TopicArn=topic_arn,
        Subject=alert.subject(),
        Message=body,
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value}
            for name, value in alert.attributes().items()
        },
    )
    message_id = response["MessageId"]
    log.info("published %s %s alert %s: %s", alert.severity, alert.kind, message_id, alert.title)
    return message_id


def topic_arn(settings: Settings, sns_client: Any | None = None) -> str:
    """The alerts topic's ARN, looked up by name (CreateTopic returns an existing topic's ARN)."""
    sns_client = sns_client or aws.client("sns", settings)
    return sns_client.create_topic(Name=ALERTS_TOPIC)["TopicArn"]


class Notifier:
    """Delivers alerts through one SNS and one S3 client, the topic looked up once.

    A boto3 client costs tens of milliseconds of CPU to create (it loads the service's model):
    a tick that raises hundreds of alerts (card bursts during a replay) shares one of each.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._sns = aws.client("sns", settings)
        self._s3 = aws.client("s3", settings)
        self._topic_arn: str | None = None

    def deliver(self, alert: Alert) -> str:
        """Publish ``alert`` on the alerts topic and store it under alerts/; SNS's message id."""
        if self._topic_arn is None:
            self._topic_arn = topic_arn(self._settings, self._sns)
        message_id = publish(self._sns, self._topic_arn, alert)
        store.write_alert(self._s3, self._settings.bucket, alert, message_id)
        return message_id


def deliver(settings: Settings, alert: Alert) -> str:
    """Deliver one alert (see ``Notifier``); SNS's message id."""
    return Notifier(settings).deliver(alert)
