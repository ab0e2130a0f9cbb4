"""Warn when a replay is sending but nothing lands: the freshness check.

Landing runs do not evaluate it (process_landing_job leaves it out); landing_freshness_sensor
(defs/landing/sensors.py) does, every 30 s, with ``assess`` and ``evaluation`` from here.
"""

from datetime import UTC, datetime

import dagster as dg

from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.landing.assets import landing_transactions
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline.landing.freshness import Freshness, assess_freshness


def running_replay_since(instance: dg.DagsterInstance) -> datetime | None:
    """Start time of the oldest replay run in progress, if any."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(
            job_name=replay_transactions_job.name, statuses=[dg.DagsterRunStatus.STARTED]
        )
    )
    starts = [r.start_time for r in records if r.start_time]
    return datetime.fromtimestamp(min(starts), UTC) if starts else None


def assess(instance: dg.DagsterInstance, aws: AwsResource, guards: GuardsResource) -> Freshness:
    """How fresh the landing zone is, against the replay running on ``instance``."""
    return assess_freshness(
        aws.client("s3"),
        aws.settings().bucket,
        running_replay_since(instance),
        max_silence=guards.max_landing_silence(),
    )


@dg.asset_check(
    asset=landing_transactions,
    description="While a replay runs, new landing objects keep arriving (WARN after a silence).",
)
def landing_fresh_during_replay(
    context: dg.AssetCheckExecutionContext, aws: AwsResource, guards: GuardsResource
) -> dg.AssetCheckResult:
    freshness = assess(context.instance, aws, guards)
    return dg.AssetCheckResult(
        passed=not freshness.stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness.describe(),
        metadata={"newest_object_at": str(freshness.newest_object_at)},
    )


def evaluation(freshness: Freshness) -> dg.AssetCheckEvaluation:
    """``freshness`` as an evaluation of landing_fresh_during_replay, recorded by a sensor."""
    return dg.AssetCheckEvaluation(
        asset_key=landing_fresh_during_replay.check_key.asset_key,
        check_name=landing_fresh_during_replay.check_key.name,
        passed=not freshness.stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=freshness.describe(),
        metadata={
            "newest_object_at": str(freshness.newest_object_at),
            "max_silence_s": freshness.max_silence.total_seconds(),
            "replay_running_since": str(freshness.replay_running_since),
        },
    )
