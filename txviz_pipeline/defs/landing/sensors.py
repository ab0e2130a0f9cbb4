"""Sensors on the landing zone: new objects become landing runs; silence during a replay warns."""

import hashlib
from datetime import UTC, datetime

import dagster as dg

from txviz_pipeline.defs.instance import shared_instance
from txviz_pipeline.defs.landing.checks import assess, evaluation
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline.defs.runs import RUNNING, WAITING, run_in
from txviz_pipeline.landing.scanner import s3_lister, scan_landing

# While a run of an hour is running and the hour's objects keep arriving (a replay), new objects
# wait for a pause of LANDING_QUIET_S, or until the oldest has waited LANDING_MAX_HOLD_S, before
# the next run is requested. Each run pays seconds of start-up and reads the hour's state again:
# during a 1.3M-row replay back-to-back runs of ~100k rows each cost a tenth of the machine. The
# last objects of a burst wait LANDING_QUIET_S at most.
LANDING_QUIET_S = 10.0
LANDING_MAX_HOLD_S = 60.0


@dg.sensor(
    job=process_landing_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lists recent landing hours against the keys already seen; requests one "
    "process_landing_job run per hour with new objects, unless a run of that hour is still "
    "waiting to start (it will read them); while one runs and objects keep arriving, at most "
    "one a minute.",
)
def landing_objects_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    instance = shared_instance(context)
    settings = aws.settings()
    lister = s3_lister(aws.client("s3"), settings.bucket)
    result = scan_landing(lister, context.cursor)
    run_requests, held = [], []
    for partition, keys in result.new_keys.items():
        waiting = run_in(instance, WAITING, process_landing_job.name, partition)
        if waiting is not None:
            # It reads every object of the hour not compacted yet when it starts: these too.
            context.log.info(
                "%d new objects in %s for waiting run %s", len(keys), partition, waiting
            )
            continue
        if _arriving(result.span[partition]) and run_in(
            instance, RUNNING, process_landing_job.name, partition
        ):
            held.append(partition)
            continue
        run_requests.append(
            dg.RunRequest(
                # The run key names exactly which objects this run was asked for, so a repeated
                # evaluation (e.g. after a daemon restart before the cursor was saved) is
                # deduplicated.
                run_key=f"{partition}:{_digest(keys)}",
                partition_key=partition,
                tags={"txviz/new_objects": str(len(keys))},
            )
        )
    # Held objects are reported again by the next tick: the cursor does not move past them.
    cursor = context.cursor if held else result.cursor
    if not run_requests:
        reason = f"no new objects ({result.listed} listed)"
        if held:
            reason = (
                f"new objects in {', '.join(held)} wait while that hour's run runs and objects "
                f"keep arriving (for a {LANDING_QUIET_S:g} s pause, {LANDING_MAX_HOLD_S:g} s at "
                "most)"
            )
        elif result.new_keys:
            reason = f"{result.new_count} new objects, all for runs waiting to start"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    context.log.info("%d new objects in %s", result.new_count, ", ".join(sorted(result.new_keys)))
    return dg.SensorResult(run_requests=run_requests, cursor=cursor)


def _arriving(span: tuple[datetime | None, datetime | None]) -> bool:
    """Objects of the hour keep landing: the newest new one is recent and the oldest has not
    waited long (objects of unknown age never wait)."""
    oldest, newest = span
    if oldest is None or newest is None:
        return False
    now = datetime.now(UTC)
    return (now - newest).total_seconds() < LANDING_QUIET_S and (
        now - oldest
    ).total_seconds() < LANDING_MAX_HOLD_S


def _digest(keys: list[str]) -> str:
    return hashlib.blake2b("\n".join(sorted(keys)).encode(), digest_size=8).hexdigest()


@dg.sensor(
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates landing_fresh_during_replay every 30 s and records a result when it "
    "changes between fresh and stale.",
)
def landing_freshness_sensor(
    context: dg.SensorEvaluationContext, aws: AwsResource, guards: GuardsResource
):
    freshness = assess(shared_instance(context), aws, guards)
    state = "stale" if freshness.stale else "fresh"
    if state == context.cursor:
        return dg.SensorResult(skip_reason=f"still {state}: {freshness.describe()}")
    return dg.SensorResult(asset_events=[evaluation(freshness)], cursor=state)
