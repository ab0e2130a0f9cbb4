"""Asset-check evaluations, read from Dagster's storage with a cursor, turned into alerts.

Dagster stores one execution row per check, run and partition: a run's rows are written when the
run is planned and updated in place when the check is evaluated, so row ids are not in
evaluation order. The cursor therefore keeps a low watermark (every row at or below it is
settled) and the ids above it already handled; a row still planned holds the watermark back,
for at most ``PENDING_MAX_S`` (a run that died leaves its rows planned).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from txviz_pipeline.alerts.alert import NONE, Alert
from txviz_pipeline.alerts.dedupe import FORGET_AFTER_S, OpenKeys
from txviz_pipeline.settings import Settings

# The records of ``get_asset_check_execution_history`` (AssetCheckExecutionRecord, not exported
# by dagster): id, run_id, status, event, create_timestamp, partition, key.
ExecutionRecord = Any

CURSOR_VERSION = 1
PAGE = 100
PENDING_MAX_S = 3600.0
# On its first tick the sensor alerts on evaluations of the last hour only, not the history.
FIRST_TICK_LOOKBACK_S = 3600.0
# AssetCheckExecutionRecordStatus values of an evaluated check (the enum is not public API).
COMPLETED = {"SUCCEEDED", "FAILED"}
# Check metadata that may quote records: never put into an alert.
HIDDEN_FIGURES = {"examples"}


@dataclass
class CheckCursor:
    after: int = 0
    done: set[int] = field(default_factory=set)
    open: OpenKeys = field(default_factory=OpenKeys)
    started: bool = False

    @classmethod
    def from_cursor(cls, cursor: str | None) -> CheckCursor:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown check alert cursor version {data.get('v')!r}")
        return cls(data["after"], set(data["done"]), OpenKeys(data["open"]), started=True)

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "after": self.after,
                "done": sorted(self.done),
                "open": self.open.alerted_at,
            },
            separators=(",", ":"),
        )


def new_evaluations(storage, check_keys, cursor: CheckCursor, now: float) -> list[ExecutionRecord]:
    """Completed executions not handled yet, oldest evaluation first; moves the watermark."""
    new, pending, highest = [], [], cursor.after
    for check_key in check_keys:
        before = None
        while True:
            page = storage.get_asset_check_execution_history(check_key, limit=PAGE, cursor=before)
            fresh = [r for r in page if r.id > cursor.after]
            for record in fresh:
                highest = max(highest, record.id)
                if record.status.value in COMPLETED:
                    if record.id not in cursor.done:
                        new.append(record)
                elif now - record.create_timestamp < PENDING_MAX_S:
                    pending.append(record.id)
            if len(page) < PAGE or len(fresh) < len(page):
                break
            before = page[-1].id
    settled = {r.id for r in new} | cursor.done
    cursor.after = min(pending) - 1 if pending else highest
    cursor.done = {i for i in settled if i > cursor.after}
    return sorted(new, key=lambda r: (r.event.timestamp, r.id))


def evaluation_of(record: ExecutionRecord) -> dg.AssetCheckEvaluation:
    return record.event.dagster_event.event_specific_data


def partition_of(instance: dg.DagsterInstance, record: ExecutionRecord) -> str | None:
    """The evaluation's partition: its own, else the partition of the run that evaluated it
    (checks of a partitioned asset are not partitioned themselves unless declared so)."""
    if record.partition or not record.run_id:
        return record.partition
    run = instance.get_run_by_id(record.run_id)
    return run.tags.get("dagster/partition") if run else None


def with_partitions(instance: dg.DagsterInstance, records: list) -> list:
    """``records`` with each one's partition (``partition_of``) filled in."""
    return [r._replace(partition=partition_of(instance, r)) for r in records]


def check_key_text(record: ExecutionRecord) -> str:
    partition = record.partition or NONE
    return f"check:{record.key.asset_key.to_user_string()}:{record.key.name}:{partition}"


def check_link(settings: Settings, record: ExecutionRecord) -> str:
    """The run that evaluated the check, or the check's page for a sensor's evaluation."""
    if record.run_id:
        return f"{settings.dagster_ui}/runs/{record.run_id}"
    asset_path = "/".join(record.key.asset_key.path)
    return f"{settings.dagster_ui}/assets/{asset_path}?view=checks&checkDetail={record.key.name}"


def check_alert(settings: Settings, record: ExecutionRecord, *, resolved: bool) -> Alert:
    evaluation = evaluation_of(record)
    asset = record.key.asset_key.to_user_string()
    check = record.key.name
    partition = record.partition or NONE
    where = f"{asset} {partition}" if record.partition else asset
    if resolved:
        title = f"{check} passes again on {where}"
    else:
        verb = "warned" if evaluation.severity == dg.AssetCheckSeverity.WARN else "failed"
        title = f"{check} {verb} on {where}"
    figures = {
        name: getattr(value, "value", value)
        for name, value in (evaluation.metadata or {}).items()
        if name not in HIDDEN_FIGURES
    }
    if not resolved:
        minutes = settings.alert_cooldown_minutes
        figures["repeats_held_back_for_minutes"] = minutes
    return Alert(
        kind="data_quality",
        severity=evaluation.severity.value,
        status="resolved" if resolved else "open",
        title=title,
        key=check_key_text(record),
        asset=asset,
        check=check,
        partition=partition,
        description=evaluation.description or "",
        figures=figures,
        link=check_link(settings, record),
        raised_at=datetime.fromtimestamp(record.event.timestamp, UTC),
    )


@dataclass
class Decisions:
    alerts: list[Alert] = field(default_factory=list)
    held_back: list[str] = field(default_factory=list)


def decide(
    settings: Settings,
    records: list[ExecutionRecord],
    cursor: CheckCursor,
    now: float,
) -> Decisions:
    """Which ``records`` become alerts, with the cool-down and resolutions in ``cursor.open``."""
    decisions = Decisions()
    cooldown_s = settings.alert_cooldown_minutes * 60
    for record in records:
        if not cursor.started and now - record.event.timestamp > FIRST_TICK_LOOKBACK_S:
            continue
        key = check_key_text(record)
        if not evaluation_of(record).passed:
            if cursor.open.failing(key, record.event.timestamp, cooldown_s):
                decisions.alerts.append(check_alert(settings, record, resolved=False))
            else:
                decisions.held_back.append(key)
        elif cursor.open.passing(key):
            decisions.alerts.append(check_alert(settings, record, resolved=True))
    cursor.open.forget_before(now - FORGET_AFTER_S)
    cursor.started = True
    return decisions
