"""``txviz demo``: the whole pipeline on this machine, no AWS account needed.

Starts the embedded AWS stack, the live dashboard and the Dagster webserver + daemon, launches a
replay of the sample through Dagster's GraphQL API (as the launchpad would), reports when the
dashboard first has data, and stops everything it started on SIGINT (Ctrl-C), SIGTERM or SIGHUP
(the caller turns those into an exception, see ``processes.stop_on_signals``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from txviz_pipeline.processes import port_in_use, signals_held, stop_group
from txviz_pipeline.settings import LOCALHOST, Settings

log = logging.getLogger("txviz.demo")


def spice_row_count(path: Path) -> int:
    """Rows in the local SPICE, 0 while it does not exist yet."""
    import duckdb

    if not path.exists():
        return 0
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute("SELECT count(*) FROM transactions").fetchone()[0]
    except duckdb.Error:
        return 0


def run_demo(
    settings: Settings,
    *,
    csv: str,
    moto_port: int,
    dagster_port: int,
    dashboard_port: int,
    speed: float | None = None,
    replay: bool = True,
    exit_when_ready: bool = False,
) -> int:
    from txviz_pipeline import orchestrator
    from txviz_pipeline.serving.dashboard.launch import (
        dashboard_url,
        start_dashboard,
        wait_until_ready,
    )
    from txviz_pipeline.stack import control

    for name, port in (("Dagster", dagster_port), ("dashboard", dashboard_port)):
        if port_in_use(port):
            raise RuntimeError(
                f"port {port} on {LOCALHOST} is already in use; pick another {name} port "
                f"with --{name.lower()}-port"
            )
    started = time.monotonic()
    home = settings.home
    stack_was_running = control.status(home, counts=False).running
    procs = []
    try:
        stack = control.up(port=moto_port, settings=settings)
        # Dagster's processes reach the embedded AWS through its endpoint and fake credentials.
        env = {**os.environ, **stack.env}
        settings = stack.settings
        dashboard = start_dashboard(settings, dashboard_port)
        procs.append(dashboard)
        dagster = orchestrator.start_dagster(settings, dagster_port, env)
        procs.append(dagster)
        dagster_url = f"http://{LOCALHOST}:{dagster_port}"
        wait_until_ready(dashboard_port, proc=dashboard)
        orchestrator.wait_for_dagster(dagster_port, dagster, settings)
        print(f"embedded AWS : {stack.endpoint_url}", flush=True)
        print(f"Dagster UI   : {dagster_url}", flush=True)
        print(f"dashboard    : {dashboard_url(dashboard_port)}", flush=True)
        if replay:
            replay_config = {"speed": speed} if speed else {}
            run_id = orchestrator.launch_replay(dagster_port, csv, replay_config)
            print(f"replay run   : {dagster_url}/runs/{run_id}", flush=True)
        print("Ctrl-C stops everything txviz started.", flush=True)
        first_data = None
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
            if first_data is None:
                rows = spice_row_count(settings.spice_path)
                if rows:
                    first_data = time.monotonic() - started
                    print(
                        f"first dashboard data after {first_data:.1f}s ({rows:,} transactions)",
                        flush=True,
                    )
                    if exit_when_ready:
                        return 0
            time.sleep(1)
    finally:
        with signals_held():
            for proc in reversed(procs):
                stop_group(proc.pid)
            if not stack_was_running:
                control.down(home)
