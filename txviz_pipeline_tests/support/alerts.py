"""Reading alerts the way a subscriber does: from the SQS queue subscribed to the alerts topic."""

from __future__ import annotations

import json
import time

from txviz_pipeline import aws
from txviz_pipeline.alerts.notify import topic_arn
from txviz_pipeline.settings import ALERTS_QUEUE, Settings
from txviz_pipeline.stack.provision import alerts_queue


def subscribe_queue(settings: Settings) -> str:
    """The alerts topic and its SQS queue, as the embedded stack provisions them; the queue URL."""
    return alerts_queue(settings, topic_arn(settings), [])


def receive(settings: Settings, queue_url: str, wait_s: float = 1.0) -> list[dict]:
    """Every message in the queue within ``wait_s`` (SNS envelopes; attributes as name ->
    value under ``attributes``, SQS's receipt time under ``sent_timestamp``), deleted once
    read. Returns as soon as messages arrived and the queue is empty again."""
    sqs = aws.client("sqs", settings)
    messages: list[dict] = []
    deadline = time.monotonic() + wait_s
    while True:
        remaining = deadline - time.monotonic()
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            AttributeNames=["SentTimestamp"],
            WaitTimeSeconds=max(0, min(20, int(remaining))),
        )
        batch = response.get("Messages", [])
        for m in batch:
            envelope = json.loads(m["Body"])
            envelope["attributes"] = {
                k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()
            }
            # When SQS received it, in epoch seconds.
            envelope["sent_timestamp"] = int(m["Attributes"]["SentTimestamp"]) / 1000
            messages.append(envelope)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        if not batch and (messages or remaining <= 0):
            return messages
        if not batch:
            time.sleep(0.2)


def queue_url(settings: Settings) -> str:
    return aws.client("sqs", settings).get_queue_url(QueueName=ALERTS_QUEUE)["QueueUrl"]
