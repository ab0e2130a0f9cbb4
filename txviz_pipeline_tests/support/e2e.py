"""The whole embedded pipeline for end-to-end tests: moto server and `dagster dev` with its
webserver and daemon, on free ports in a fresh home, and the waits that follow a replay."""

import os
import time
from pathlib import Path

import pytest

from txviz_pipeline import orchestrator
from txviz_pipeline.demo import spice_row_count
from txviz_pipeline.processes import stop_group
from txviz_pipeline.settings import Settings
from txviz_pipeline.stack import control
from txviz_pipeline_tests.support.moto import free_port

# Replay, landing, compaction and SPICE for a few hundred rows on a 2-core machine.
DEADLINE_S = 420


def running_pipeline(tmp_path_factory):
    """Embedded stack + `dagster dev` on free ports, in a fresh home; all stopped afterwards.

    One per test, so that each test's figures (SPICE rows, dashboard totals, check history) are
    its own whichever test runs first.
    """
    home = tmp_path_factory.mktemp("e2e") / "txviz-home"
    stack = control.up(port=free_port(), home=home)
    dagster = None
    patch = pytest.MonkeyPatch()
    try:
        # This process reads the embedded S3 too (the error prefix), with the stack's credentials.
        for key, value in stack.env.items():
            patch.setenv(key, value)
        env = {**os.environ, **stack.env, "TXVIZ_HOME": str(home)}
        settings = Settings.from_env(env)
        port = free_port()
        dagster = orchestrator.start_dagster(settings, port, env)
        orchestrator.wait_for_dagster(port, dagster, settings, timeout=180)
        yield settings, port, env
    finally:
        patch.undo()
        if dagster is not None:
            stop_group(dagster.pid)
        control.down(home)


def wait_for_spice_rows(settings: Settings, port: int, rows: int, deadline: float) -> int:
    """Wait until the local SPICE holds ``rows`` rows (sensor -> landing -> compaction -> SPICE)."""
    found = 0
    while time.monotonic() < deadline:
        found = spice_row_count(settings.spice_path)
        if found >= rows:
            break
        assert not orchestrator.failed_runs(port), "a pipeline run failed"
        time.sleep(2)
    return found


def wait_for_run(port: int, run_id: str, deadline: float) -> str:
    from dagster import DagsterRunStatus

    client = orchestrator.graphql_client(port)
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in (
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.FAILURE,
            DagsterRunStatus.CANCELED,
        ):
            return status.value
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in time")


def latest_check(dagster_home: Path, asset: str, check: str):
    from dagster import AssetCheckKey, AssetKey, DagsterInstance

    with DagsterInstance.from_config(str(dagster_home)) as instance:
        key = AssetCheckKey(AssetKey(asset), check)
        (record,) = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
        return record.event.dagster_event.event_specific_data
