"""The runs sensors start: new work folds into a run still waiting to start, and a run that
failed outside the pipeline's code runs again.

A landing run reads every object of its hour that compaction has not merged, and a SPICE refresh
reads every curated file, when its step starts, not when it was requested. So a run that is
still queued (or launching) will already cover whatever a sensor finds now: requesting another
would only add a run that starts later and finds nothing new. With one run at a time per hour
(and per SPICE), this keeps at most one run running and one waiting, whatever the sensor's
cadence, instead of a queue that grows with every tick during a replay.

Folding work into a waiting run relies on that run happening: if it fails before its step has
read anything (its process never started, the code server restarted under it), the instance's
run retries (``run_retries`` in dagster.yaml) run it again. A failure of the step itself (a
blocking check on bad records) is not retried: it would fail the same way.
"""

from __future__ import annotations

import dagster as dg

# Tags of a job whose runs a sensor starts: up to 2 retries of a run that failed outside its steps.
RETRIED = {"dagster/max_retries": "2", "dagster/retry_on_asset_or_op_failure": "false"}

# Statuses before the run's step reads anything: queued, handed to the launcher, or starting.
WAITING = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
]
RUNNING = [dg.DagsterRunStatus.STARTED]
IN_FLIGHT = [*WAITING, *RUNNING]


def run_in(
    instance: dg.DagsterInstance,
    statuses: list[dg.DagsterRunStatus],
    job_name: str,
    partition: str | None = None,
) -> str | None:
    """The id of a run of ``job_name`` (of ``partition``, if given) in one of ``statuses``."""
    tags = {"dagster/partition": partition} if partition is not None else {}
    filters = dg.RunsFilter(job_name=job_name, statuses=statuses, tags=tags)
    runs = instance.get_run_records(filters=filters, limit=1)
    return runs[0].dagster_run.run_id if runs else None
