"""Sensors that turn failed checks and failed runs into alerts on the SNS alerts topic."""

import time

import dagster as dg

from txviz_pipeline.alerts import fraud
from txviz_pipeline.alerts.alert import NONE, Alert
from txviz_pipeline.alerts.notify import deliver
from txviz_pipeline.defs.alerts.evaluations import (
    CheckCursor,
    decide,
    new_evaluations,
    with_partitions,
)
from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.jobs import refresh_spice_job
from txviz_pipeline.landing.scanner import s3_lister, scan_landing
from txviz_pipeline.settings import LANDING_PREFIX

# A run's failure message can be long (a stack trace's summary): the alert links to the run.
ERROR_MAX_CHARS = 500


@dg.sensor(
    minimum_interval_seconds=10,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Publishes one alert on the txviz-alerts SNS topic per failed or warned "
    "asset-check evaluation (from runs and sensors), holds repeats of a (check, partition) back "
    "for the cool-down, and publishes 'resolved' when the check passes again.",
)
def check_evaluation_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    settings = aws.settings()
    cursor = CheckCursor.from_cursor(context.cursor)
    now = time.time()
    check_keys = sorted(context.repository_def.asset_graph.asset_check_keys, key=str)
    records = new_evaluations(context.instance.event_log_storage, check_keys, cursor, now)
    records = with_partitions(context.instance, records)
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
    for alert in alerts:
        message_id = deliver(settings, alert)
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
    settings = aws.settings()
    thresholds = fraud.Thresholds.from_settings(settings)
    state = fraud.FraudState.from_cursor(context.cursor)
    s3 = aws.client("s3")
    # An hour back covers the longest rule with margin; the tallies keep their own minutes.
    scan = scan_landing(s3_lister(s3, settings.bucket), state.seen, lookback_hours=1)
    state.seen = scan.cursor
    records = 0
    for keys in scan.new_keys.values():
        for key in keys:
            if key.startswith(LANDING_PREFIX):
                body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
                records += fraud.tally_lines(state.tallies, body.splitlines())
    now = time.time()
    now_minute = int(now // 60)
    state.tallies.forget_before(
        now_minute - fraud.horizon(thresholds),
        cards_before=now_minute - int(thresholds.burst_minutes) + 1,  # as bursts() counts
    )
    findings = fraud.spikes(state.tallies, now_minute, thresholds, settings)
    findings += fraud.bursts(state.tallies, now_minute, thresholds)
    alerts = fraud.decide(findings, state.open, now, settings.alert_cooldown_minutes * 60)
    return _published(
        context,
        settings,
        alerts,
        state.to_cursor(),
        f"{records} new landing records, no fraud alert",
    )
