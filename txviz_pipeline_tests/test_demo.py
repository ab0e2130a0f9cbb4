"""``txviz demo --exit-when-ready``: servers start at once, the replay runs while Dagster loads
and is recorded in Dagster, and the command exits 0 once the dashboard has data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from txviz_pipeline import demo, orchestrator
from txviz_pipeline.processes import port_in_use
from txviz_pipeline.settings import REPO_ROOT, Settings
from txviz_pipeline_tests.support.moto import free_port

EVENT_LINE = re.compile(r"^\[\s*([\d.]+) s\] (.+)$")


def run_demo_command(home: Path, *flags: str) -> tuple[subprocess.CompletedProcess, list[int]]:
    ports = [free_port(), free_port(), free_port()]
    argv = [sys.executable, "-m", "txviz_pipeline.cli", "demo", "--exit-when-ready", *flags]
    argv += ["--moto-port", str(ports[0]), "--dagster-port", str(ports[1])]
    argv += ["--dashboard-port", str(ports[2])]
    done = subprocess.run(
        argv,
        env={**os.environ, "TXVIZ_HOME": str(home)},
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=400,
    )
    return done, ports


def event_order(stdout: str) -> list[str]:
    """The ``--timings`` events in the order they were printed."""
    return [m.group(2) for line in stdout.splitlines() if (m := EVENT_LINE.match(line))]


def test_dagster_is_told_its_own_port_so_alert_links_point_at_it(tmp_path, monkeypatch):
    started = {}
    monkeypatch.setattr(orchestrator, "start_group", lambda argv, **kw: started.update(kw))
    settings = Settings.from_env({"TXVIZ_HOME": str(tmp_path)})
    orchestrator.start_dagster(settings, 3123, {"TXVIZ_DAGSTER_PORT": "3000"})
    child = Settings.from_env(started["env"])
    assert child.dagster_port == 3123
    assert child.dagster_ui == "http://127.0.0.1:3123"


def test_replay_run_config_names_the_replay_jobs_ops() -> None:
    from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson
    from txviz_pipeline.defs.ingest.jobs import replay_transactions_job

    config = orchestrator.replay_run_config("data/sample.csv", {"speed": 60.0})
    assert replay_transactions_job.name == orchestrator.REPLAY_JOB
    assert (transactions_ndjson.op.name, firehose_replay.op.name) == (
        orchestrator.CONVERT_OP,
        orchestrator.REPLAY_OP,
    )
    assert config["ops"] == {
        "transactions_ndjson": {"config": {"source_csv": "data/sample.csv"}},
        "firehose_replay": {"config": {"speed": 60.0}},
    }


@pytest.mark.e2e
def test_demo_starts_everything_at_once_and_exits_with_data(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done, ports = run_demo_command(home, "--timings")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    first = re.search(r"first dashboard data after [\d.]+s \(([\d,]+) transactions\)", done.stdout)
    assert first and int(first.group(1).replace(",", "")) > 0, done.stdout
    order = event_order(done.stdout)

    def before(a: str, b: str) -> bool:
        return order.index(a) < order.index(b)

    # Each server is started before the stack (started first) answers: none waits for another.
    assert order[0] in (demo.DASHBOARD_STARTED, demo.STACK_STARTED)
    assert before(demo.DASHBOARD_STARTED, demo.STACK_ANSWERING)
    assert before(demo.DAGSTER_STARTED, demo.STACK_ANSWERING)
    # The replay starts once the stack is provisioned, without waiting for Dagster's webserver.
    assert before(demo.STACK_PROVISIONED, demo.REPLAY_LAUNCHED)
    assert before(demo.REPLAY_LAUNCHED, demo.LOCATION_LOADED)
    assert before(demo.REPLAY_LAUNCHED, demo.FIRST_LANDED)
    assert before(demo.FIRST_LANDED, demo.FIRST_DATA)
    for event in (demo.DASHBOARD_READY, demo.WEBSERVER_READY, demo.DAEMON_READY):
        assert before(event, demo.ALL_READY)
    assert [port for port in ports if port_in_use(port)] == []

    # The replay ran as a replay_transactions_job run of the local instance, with its lineage.
    import dagster as dg

    from txviz_pipeline.defs.ingest.assets import firehose_replay

    dagster_home = orchestrator.dagster_home(Settings(home=home))
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = instance.get_runs(dg.RunsFilter(job_name=orchestrator.REPLAY_JOB))
        assert [(r.status, r.tags.get("txviz/launched-by")) for r in runs] == [
            (dg.DagsterRunStatus.SUCCESS, "txviz demo")
        ]
        materialized = instance.get_latest_materialization_event(firehose_replay.key)
        assert materialized is not None and materialized.run_id == runs[0].run_id
