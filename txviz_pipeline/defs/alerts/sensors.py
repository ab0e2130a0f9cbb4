"""Sensors that turn failed checks and failed runs into alerts on the SNS alerts topic."""

import time

import dagster as dg

from txviz_pipeline.alerts import fraud
from txviz_pipeline.alerts.alert import NONE, Alert
from txviz_pipeline.alerts.notify import Notifier, deliver
from txviz_pipeline.defs.alerts.evaluations import (
    CheckCursor,
    decide,
    new_evaluations,
    with_partitions,
)
from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.instance import shared_instance
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.jobs import refresh_spice_job
from txviz_pipeline.landing.scanner import s3_lister, scan_landing
from txviz_pipeline.s3objects import read_objects
from txviz_pipeline.settings import LANDING_PREFIX

# A run's failure message can be long (a stack trace's summary): the alert links to the run.
ERROR_MAX_CHARS = 500
# Landing objects the fraud sensor reads per tick, the oldest first; the rest wait for the next
# ticks. A tick must end within Dagster's 60 s sensor evaluation timeout, or its cursor is not
# saved and the next tick has even more to read. 200 objects of the embedded stack (one per
# PutRecordBatch of 500 records) are ~100,000 records, read and tallied in ~2 s on a shared
# 2-core machine: far under the timeout even when a replay slows it several times, and at a
# tick every ~12 s faster than the replay lands objects (~10 a second), so a backlog drains.
FRAUD_OBJECTS_PER_TICK = 200
# GETs in flight at once: enough to hide S3's round trips, few enough for a 2-core machine.
FRAUD_FETCH_THREADS = 8


@dg.sensor(
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes one alert on the txviz-alerts SNS topic per failed or warned "
    "asset-check evaluation (from runs and sensors), holds repeats of a (check, partition) back "
    "for the cool-down, and publishes 'resolved' when the check passes again.",
)
def check_evaluation_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    instance = shared_instance(context)
    settings = aws.settings()
    cursor = CheckCursor.from_cursor(context.cursor)
    now = time.time()
    check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=str)
    records = new_evaluations(instance.event_log_storage, check_keys, cursor, now)
    records = with_partitions(instance, records)
    decisions = decide(settings, records, cursor, now)
    for key in decisions.held_back:
        context.log.info("held back a repeat alert for %s (cool-down)", key)
    return _published(
        context,
        settings,
        decisions.alerts,
        cursor.to_cursor(),
        f"{len(records)} new evaluations, no alert "
        f"({len(decisions.held_back)} held back in the cool-down)",
    )


def _published(context, settings, alerts: list[Alert], cursor: str, quiet: str):
    """Deliver ``alerts``; the tick's result with ``cursor`` (``quiet`` when there were none)."""
    notifier = Notifier(settings) if alerts else None
    for alert in alerts:
        message_id = notifier.deliver(alert)
        context.log.info("alert %s (%s): %s", message_id, alert.key, alert.subject())
    return dg.SensorResult(cursor=cursor, skip_reason=None if alerts else quiet)


@dg.run_failure_sensor(
    monitored_jobs=[replay_transactions_job, process_landing_job, refresh_spice_job],
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes an alert on the txviz-alerts SNS topic for every failed run of the "
    "replay, landing and SPICE jobs, with the error and a link to the run.",
)
def run_failure_alert_sensor(context: dg.RunFailureSensorContext, aws: AwsResource):
    settings = aws.settings()
    run = context.dagster_run
    error = context.failure_event.message or "the run failed"
    if len(error) > ERROR_MAX_CHARS:
        error = error[: ERROR_MAX_CHARS - 3] + "..."
    partition = run.tags.get("dagster/partition", NONE)
    alert = Alert(
        kind="run_failure",
        severity="ERROR",
        title=f"{run.job_name} failed" + (f" on {partition}" if partition != NONE else ""),
        key=f"run:{run.run_id}",
        partition=partition,
        description=error,
        figures={"job": run.job_name, "run_id": run.run_id},
        link=f"{settings.dagster_ui}/runs/{run.run_id}",
    )
    message_id = deliver(settings, alert)
    context.log.info("alert %s: %s", message_id, alert.subject())


@dg.sensor(
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads new landing objects and publishes fraud alerts on the txviz-alerts SNS "
    "topic: a spike in flagged transactions over the rolling baseline (overall, per category, "
    "per state) and a burst of flags on one card; thresholds from TXVIZ_FRAUD_* settings.",
)
def fraud_activity_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    shared_instance(context)  # for context.log
    settings = aws.settings()
    thresholds = fraud.Thresholds.from_settings(settings)
    state = fraud.FraudState.from_cursor(context.cursor)
    quiet = _tally_new_records(context, aws.client("s3"), settings.bucket, state)
    now = time.time()
    now_minute = int(now // 60)
    state.tallies.forget_before(
        now_minute - fraud.horizon(thresholds),
        cards_before=now_minute - int(thresholds.burst_minutes) + 1,  # as bursts() counts
    )
    findings = fraud.spikes(state.tallies, now_minute, thresholds, settings)
    findings += fraud.bursts(state.tallies, now_minute, thresholds)
    alerts = fraud.decide(findings, state.open, now, settings.alert_cooldown_minutes * 60)
    return _published(context, settings, alerts, state.to_cursor(), quiet)


def _tally_new_records(context, s3, bucket: str, state: fraud.FraudState) -> str:
    """Tally the records of the oldest new landing objects into ``state`` (at most
    ``FRAUD_OBJECTS_PER_TICK``); what the tick read, to report when it alerts nothing."""
    # An hour back covers the longest rule with margin; the tallies keep their own minutes.
    scan = scan_landing(
        s3_lister(s3, bucket), state.seen, lookback_hours=1, limit=FRAUD_OBJECTS_PER_TICK
    )
    state.seen = scan.cursor
    # The scanner also reports quarantined and failed records: only landing records are tallied.
    keys = [k for keys in scan.new_keys.values() for k in keys if k.startswith(LANDING_PREFIX)]
    records = 0
    for _key, body in read_objects(s3, bucket, keys, threads=FRAUD_FETCH_THREADS):
        records += fraud.tally_lines(state.tallies, body.splitlines())
    if not scan.deferred:
        return f"{records} new landing records, no fraud alert"
    read = f"{records} new landing records from {len(keys)} objects"
    context.log.info("read %s; %d objects left for the next ticks", read, scan.deferred)
    return f"{read}, no fraud alert; {scan.deferred} objects left for the next ticks"
