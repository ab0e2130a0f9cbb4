"""SPICE follows compaction: a refresh after new hourly Parquet, coalesced on AWS.

Locally a tick with new Parquet requests a refresh (the DuckDB SPICE has no quota) at once when
no replay and no landing run is in flight, and at most once a minute while one is: during a
replay landing runs follow each other, each refresh would be followed by another a few seconds
later, and the dashboard's speed layer already shows the rows landed since. (Pacing on landing
runs alone still gave a refresh after nearly every landing run of a replay: 11 refreshes, each a
Dagster run, in a 5-minute replay.) The refresh after the last compaction of a burst is never
held back: it is requested once neither is in flight.

On AWS a burst of compactions (a replay catching up many hours) shares one refresh: the sensor
requests at most one per TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES and holds later Parquet back,
unseen, until the interval has passed, so the last compaction of a burst is never dropped. The
refresh itself still passes the daily budget guard (serving/spice_budget.py). Either way, new
Parquet found while a refresh is still waiting to start goes to that refresh, which reads every
curated file when it starts (see defs/runs.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.ingest.parts import replay_part_job
from txviz_pipeline.defs.instance import shared_instance
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.runs import IN_FLIGHT, WAITING, run_in
from txviz_pipeline.defs.serving.jobs import refresh_spice_job

# The local SPICE's pace while runs of these jobs are in flight (see the module's docstring).
LOCAL_BUSY_REFRESH_INTERVAL_S = 60.0
BUSY_JOBS = (replay_transactions_job.name, replay_part_job.name, process_landing_job.name)


@dataclass(frozen=True)
class Step:
    """One evaluation's outcome: a run key to request (or None and why not) and the new cursor."""

    run_key: str | None
    reason: str
    cursor: str


def coalesce(
    cursor: str | None,
    latest: int | None,
    now: float,
    min_interval_s: float,
    waiting: str | None = None,
    pace: str = "on AWS",
) -> Step:
    """Decide on the newest transactions_parquet materialization (its storage id ``latest``);
    ``waiting``: a refresh run that has not started yet, which will read that Parquet too.

    The cursor holds two numbers: the storage id the last request covered and when it was made.
    """
    state = json.loads(cursor) if cursor else {}
    if not isinstance(state, dict):  # an asset_sensor's cursor: the storage id it last saw
        state = {"seen": int(state)}
    seen, requested_at = state.get("seen", 0), state.get("requested_at")
    unchanged = cursor or json.dumps({"seen": seen, "requested_at": requested_at})
    if latest is None or latest <= seen:
        return Step(None, "no new Parquet since the last SPICE refresh", unchanged)
    if waiting is not None:
        return Step(
            None,
            f"new Parquet goes to refresh run {waiting}, which has not started yet",
            json.dumps({"seen": latest, "requested_at": requested_at}),
        )
    if requested_at is not None and now - requested_at < min_interval_s:
        due = datetime.fromtimestamp(requested_at + min_interval_s, UTC)
        return Step(
            None,
            f"new Parquet waits for the next SPICE refresh, not before {due:%H:%M:%S} UTC "
            f"(one per {min_interval_s / 60:g} min {pace})",
            unchanged,
        )
    new_cursor = json.dumps({"seen": latest, "requested_at": now})
    return Step(f"compaction:{latest}", "new Parquet", new_cursor)


@dg.sensor(
    job=refresh_spice_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes SPICE after new hourly Parquet; on AWS at most once per "
    "TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES, so a burst of compactions shares one refresh; "
    "locally at once, or at most once a minute while a replay or landing runs are in flight.",
)
def compaction_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    instance = shared_instance(context)
    settings = aws.settings()
    records = instance.fetch_materializations(transactions_parquet.key, limit=1).records
    latest = records[0].storage_id if records else None
    interval_s, pace = settings.spice_min_refresh_interval_minutes * 60, "on AWS"
    if settings.embedded:
        busy = next(filter(None, (run_in(instance, IN_FLIGHT, j) for j in BUSY_JOBS)), None)
        interval_s = LOCAL_BUSY_REFRESH_INTERVAL_S if busy else 0.0
        pace = f"while a replay or landing runs are in flight (run {busy})"
    waiting = run_in(instance, WAITING, refresh_spice_job.name)
    step = coalesce(context.cursor, latest, time.time(), interval_s, waiting, pace)
    if step.run_key is None:
        return dg.SensorResult(skip_reason=step.reason, cursor=step.cursor)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=step.run_key)], cursor=step.cursor)
