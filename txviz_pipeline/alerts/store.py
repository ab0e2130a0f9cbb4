"""Every published alert as one JSON object under ``alerts/YYYY/MM/DD/HH/`` in the pipeline
bucket: what the dashboard shows. Stateless, so it reads the same on the embedded stack and AWS.

For the dashboard (a banner for open alerts and a list of recent ones)::

    from txviz_pipeline.alerts.store import open_alerts, recent_alerts

    recent_alerts(settings, limit=20)  # newest first, from the last 24 hours
    open_alerts(settings)              # the newest alert of each key, unless it is resolved

Each alert is a dict with ``severity`` (WARN/ERROR), ``kind`` (data_quality, run_failure,
fraud_spike, card_burst), ``status`` (open/resolved), ``asset``, ``check``,
``partition`` ("-" when none), ``key`` (what it is about; a resolved alert repeats the key of
the alert it clears), ``title``, ``description``, ``figures`` (name -> number or short text),
``link`` (the run or check in the Dagster UI, or None), ``raised_at`` (ISO-8601 UTC) and
``message_id`` (SNS's). An alert that nothing resolves (a failed run, a card burst) stays open
for ``lookback_hours``.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from txviz_pipeline import aws
from txviz_pipeline.alerts.alert import Alert
from txviz_pipeline.landing.scanner import recent_partitions
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import ALERTS_PREFIX, Settings

DEFAULT_LOOKBACK_HOURS = 24


def alert_key(published_at: datetime) -> str:
    """``alerts/<hour>/<time>-<random>.json``: key order is publishing order within an hour."""
    at = published_at.astimezone(UTC)
    return f"{ALERTS_PREFIX}{at:%Y/%m/%d/%H}/{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.json"


def write_alert(s3: Any, bucket: str, alert: Alert, message_id: str) -> str:
    """Store ``alert`` with SNS's ``message_id``; returns the object key."""
    key = alert_key(datetime.now(UTC))
    body = json.dumps({**alert.record(), "message_id": message_id}, ensure_ascii=False)
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), ContentType="application/json")
    return key


def _alerts(settings: Settings, lookback_hours: int, now: datetime | None, s3: Any) -> list[dict]:
    """Every stored alert of the last ``lookback_hours``, newest first."""
    s3 = s3 or aws.client("s3", settings)
    now = now or datetime.now(UTC)
    keys = [
        key
        for hour in recent_partitions(now, lookback_hours)
        for key in iter_keys(s3, settings.bucket, f"{ALERTS_PREFIX}{hour}/")
    ]
    alerts = []
    for key in sorted(keys, reverse=True):
        alert = json.loads(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())
        alerts.append(alert)
    return alerts


def recent_alerts(
    settings: Settings,
    limit: int | None = 20,
    *,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    now: datetime | None = None,
    s3: Any = None,
) -> list[dict]:
    """The ``limit`` newest alerts (open and resolved) of the last ``lookback_hours``; every one
    of them when ``limit`` is None."""
    return _alerts(settings, lookback_hours, now, s3)[:limit]


def open_alerts(
    settings: Settings,
    *,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    now: datetime | None = None,
    s3: Any = None,
) -> list[dict]:
    """For each alert key of the last ``lookback_hours``, its newest alert unless resolved;
    newest first."""
    return still_open(_alerts(settings, lookback_hours, now, s3))


def still_open(alerts: list[dict]) -> list[dict]:
    """Of ``alerts`` (newest first), each key's newest alert unless it is resolved."""
    newest: dict[str, dict] = {}
    for alert in alerts:
        newest.setdefault(alert["key"], alert)
    return [a for a in newest.values() if a["status"] == "open"]
