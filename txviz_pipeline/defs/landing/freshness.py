"""Warn when a replay is sending but nothing lands: the freshness check and its sensor."""

import os
from datetime import UTC, datetime, timedelta

import dagster as dg

from txviz_pipeline.defs.landing.assets import LANDING_FRESH_DURING_REPLAY, landing_transactions
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.landing.freshness import DEFAULT_MAX_SILENCE, Freshness, assess_freshness

REPLAY_JOB = "replay_transactions_job"


def max_silence() -> timedelta:
    minutes = os.environ.get("TXVIZ_MAX_LANDING_SILENCE_MINUTES")
    return timedelta(minutes=float(minutes)) if minutes else DEFAULT_MAX_SILENCE


def running_replay_since(instance: dg.DagsterInstance) -> datetime | None:
    """Start time of the oldest replay run in progress, if any."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=REPLAY_JOB, statuses=[dg.DagsterRunStatus.STARTED])
    )
    starts = [r.start_time for r in records if r.start_time]
    return datetime.fromtimestamp(min(starts), UTC) if starts else None


def assess(instance: dg.DagsterInstance, aws: AwsResource) -> Freshness:
    return assess_freshness(
        aws.client("s3"),
        aws.settings().bucket,
        running_replay_since(instance),
        max_silence=max_silence(),
    )


def evaluation(freshness: Freshness) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=landing_transactions.key,
        check_name=LANDING_FRESH_DURING_REPLAY,
        passed=not freshness.stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness.describe(),
        metadata={
            "newest_object_at": str(freshness.newest_object_at),
            "max_silence_s": freshness.max_silence.total_seconds(),
            "replay_running_since": str(freshness.replay_running_since),
        },
    )


@dg.asset_check(
    asset=landing_transactions,
    name=LANDING_FRESH_DURING_REPLAY,
    description="While a replay runs, new landing objects keep arriving (WARN after a silence).",
)
def landing_fresh_during_replay(
    context: dg.AssetCheckExecutionContext, aws: AwsResource
) -> dg.AssetCheckResult:
    freshness = assess(context.instance, aws)
    return dg.AssetCheckResult(
        passed=not freshness.stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness.describe(),
        metadata={"newest_object_at": str(freshness.newest_object_at)},
    )


@dg.sensor(minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_freshness_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    """Evaluates landing_fresh_during_replay every 30 s; records a result when it changes."""
    freshness = assess(context.instance, aws)
    state = "stale" if freshness.stale else "fresh"
    if state == context.cursor:
        return dg.SensorResult(skip_reason=f"still {state}: {freshness.describe()}")
    return dg.SensorResult(asset_events=[evaluation(freshness)], cursor=state)
