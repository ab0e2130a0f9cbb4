"""Runs recorded in a test instance with a chosen status, as the queue and launcher leave them."""

import dagster as dg
from dagster._core.utils import make_new_run_id


def add_run(instance: dg.DagsterInstance, job_name: str, status, partition=None) -> str:
    """A run of ``job_name`` recorded in ``instance`` with ``status``; its id.

    (A QUEUED run needs a code location's origin; NOT_STARTED and STARTING stand for a run
    that has not started its step yet.)
    """
    run_id = make_new_run_id()
    tags = {"dagster/partition": partition} if partition else {}
    instance.add_run(dg.DagsterRun(job_name=job_name, run_id=run_id, status=status, tags=tags))
    return run_id
