"""``txviz demo``: the whole pipeline on this machine, no AWS account needed.

Starts the embedded AWS stack, the live dashboard and the Dagster webserver + daemon at once,
replays the sample as soon as the stack answers (a ``replay_transactions_job`` run recorded in
Dagster, see ``orchestrator.start_replay_run``), reports when the dashboard first has data, and
stops everything it started on SIGINT (Ctrl-C), SIGTERM or SIGHUP (the caller turns those into
an exception, see ``processes.stop_on_signals``).

``sequential=True`` keeps the former order for comparison (``bench/bench_demo.py``): stack
first, then the dashboard and Dagster, and the replay launched through Dagster's GraphQL API
once its code location has loaded.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from txviz_pipeline.processes import http_ok, port_in_use, signals_held, stop_group
from txviz_pipeline.settings import LANDING_PREFIX, LOCALHOST, Settings, embedded_env

log = logging.getLogger("txviz.demo")

# Upper bounds for the servers to answer; each starts in a few seconds on an idle machine.
READY_TIMEOUT_S = 180.0
POLL_S = 0.25
# dagster dev and the runs it starts yield the CPU to the stack, the dashboard and the demo's
# replay while all start at once on a small machine (5: about a third of a default share).
DAGSTER_NICE = 5

# The events of a start, in the order the table lists them.
STACK_STARTED = "stack server started"
STACK_ANSWERING = "stack answering"
STACK_PROVISIONED = "stack provisioned"
DASHBOARD_STARTED = "dashboard started"
DAGSTER_STARTED = "dagster dev started"
INSTANCE_READY = "Dagster storage ready"
DASHBOARD_READY = "dashboard ready"
WEBSERVER_READY = "Dagster webserver ready"
LOCATION_LOADED = "code location loaded"
DAEMON_READY = "daemon ready"
REPLAY_LAUNCHED = "replay launched"
FIRST_LANDED = "first record landed"
FIRST_DATA = "first dashboard data"
ALL_READY = "everything ready"


@dataclass
class Timeline:
    """Seconds from the start of the demo to each event, the first time it happens."""

    show: bool = False
    started: float = field(default_factory=time.monotonic)
    events: dict[str, float] = field(default_factory=dict)

    def mark(self, event: str) -> None:
        if event in self.events:
            return
        self.events[event] = time.monotonic() - self.started
        if self.show:
            print(f"[{self.events[event]:6.1f} s] {event}", flush=True)

    def __contains__(self, event: str) -> bool:
        return event in self.events


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


def _landed(s3, settings: Settings) -> bool:
    from txviz_pipeline.s3objects import iter_keys

    try:
        return next(iter_keys(s3, settings.bucket, LANDING_PREFIX), None) is not None
    except Exception:  # noqa: BLE001 - the stack may be busy; asked again next poll
        return False


@dataclass
class Servers:
    """The long-running processes the demo started, and how to reach them."""

    dagster_port: int
    dashboard_port: int
    # txviz's settings pointed at the embedded stack, for the dashboard.
    served: Settings
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def check_alive(self, settings: Settings) -> None:
        for name, proc in self.procs.items():
            if name != "replay" and proc.poll() is not None:
                logs = settings.home / "logs"
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {logs}/{name}.log")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            stop_group(proc.pid)
            proc.poll()


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
    timings: bool = False,
    sequential: bool = False,
) -> int:
    from txviz_pipeline.stack import control

    for name, port in (("Dagster", dagster_port), ("dashboard", dashboard_port)):
        if port_in_use(port):
            raise RuntimeError(
                f"port {port} on {LOCALHOST} is already in use; pick another {name} port "
                f"with --{name.lower()}-port"
            )
    timeline = Timeline(show=timings)
    home = settings.home
    running = control.status(home, counts=False)
    stack_was_running = running.running
    # The dashboard reads the stack's S3 too: its settings are known before the stack answers.
    port = running.port if running.running else moto_port
    servers = Servers(dagster_port, dashboard_port, control.embedded_settings(port, home.resolve()))
    replay_config = {"speed": speed} if speed else {}
    try:
        start = _start_in_order if sequential else _start_at_once
        settings = start(
            settings, servers, timeline, moto_port, csv if replay else None, replay_config
        )
        return _watch(
            settings, servers, timeline, csv if replay else None, replay_config, exit_when_ready
        )
    finally:
        with signals_held():
            servers.stop()
            if not stack_was_running:
                control.down(home)


def _start_at_once(settings, servers, timeline, moto_port, csv, replay_config) -> Settings:
    """Dashboard, stack server and ``dagster dev`` start together; the replay run starts as
    soon as the stack is provisioned, while Dagster is still loading."""
    from txviz_pipeline import orchestrator
    from txviz_pipeline.serving.dashboard.launch import start_dashboard
    from txviz_pipeline.stack import control

    servers.procs["dashboard"] = start_dashboard(servers.served, servers.dashboard_port)
    timeline.mark(DASHBOARD_STARTED)

    def start_dagster(port: int) -> None:
        timeline.mark(STACK_STARTED)
        env = {**os.environ, **embedded_env(port, settings.home)}
        # dagster dev first creates the instance's storage, which the replay run then shares.
        servers.procs["dagster"] = orchestrator.start_dagster(
            settings, servers.dagster_port, env, nice=DAGSTER_NICE, prepare_first=True
        )
        timeline.mark(DAGSTER_STARTED)

    stack = control.up(
        port=moto_port, settings=settings, on_spawned=start_dagster, progress=timeline.mark
    )
    _print_urls(stack.endpoint_url, servers)
    if csv is not None:
        orchestrator.wait_for_instance(stack.settings, servers.procs["dagster"])
        timeline.mark(INSTANCE_READY)
        env = {**os.environ, **stack.env}
        servers.procs["replay"] = orchestrator.start_replay_run(
            stack.settings, env, csv, replay_config
        )
        timeline.mark(REPLAY_LAUNCHED)
        print(f"replay run   : log in {settings.home / 'logs' / 'replay.log'}", flush=True)
    return stack.settings


def _start_in_order(settings, servers, timeline, moto_port, csv, replay_config) -> Settings:
    """The former order: stack, then dashboard and Dagster, replay once Dagster has loaded."""
    from txviz_pipeline import orchestrator
    from txviz_pipeline.serving.dashboard.launch import start_dashboard, wait_until_ready
    from txviz_pipeline.stack import control

    stack = control.up(
        port=moto_port,
        settings=settings,
        on_spawned=lambda port: timeline.mark(STACK_STARTED),
        progress=timeline.mark,
    )
    settings = stack.settings
    servers.procs["dashboard"] = start_dashboard(settings, servers.dashboard_port)
    timeline.mark(DASHBOARD_STARTED)
    env = {**os.environ, **stack.env}
    servers.procs["dagster"] = orchestrator.start_dagster(settings, servers.dagster_port, env)
    timeline.mark(DAGSTER_STARTED)
    wait_until_ready(servers.dashboard_port, proc=servers.procs["dashboard"])
    timeline.mark(DASHBOARD_READY)
    orchestrator.wait_for_dagster(servers.dagster_port, servers.procs["dagster"], settings)
    timeline.mark(WEBSERVER_READY)
    _print_urls(stack.endpoint_url, servers)
    if csv is not None:
        run_id = orchestrator.launch_replay(servers.dagster_port, csv, replay_config)
        timeline.mark(LOCATION_LOADED)
        timeline.mark(REPLAY_LAUNCHED)
        print(f"replay run   : {_dagster_url(servers)}/runs/{run_id}", flush=True)
    return settings


def _dagster_url(servers: Servers) -> str:
    return f"http://{LOCALHOST}:{servers.dagster_port}"


def _print_urls(endpoint_url: str, servers: Servers) -> None:
    from txviz_pipeline.serving.dashboard.launch import dashboard_url

    print(f"embedded AWS : {endpoint_url}", flush=True)
    print(f"Dagster UI   : {_dagster_url(servers)}", flush=True)
    print(f"dashboard    : {dashboard_url(servers.dashboard_port)}", flush=True)


def _readiness(servers: Servers) -> list[list]:
    """What "ready" means for each server: the dashboard's health, then Dagster's steps in
    order (each needs the one before)."""
    from txviz_pipeline import orchestrator
    from txviz_pipeline.serving.dashboard.launch import dashboard_url

    health = f"{dashboard_url(servers.dashboard_port)}/_stcore/health"
    port = servers.dagster_port
    return [
        [(DASHBOARD_READY, lambda: http_ok(health))],
        [
            (WEBSERVER_READY, lambda: orchestrator.webserver_ready(port)),
            (LOCATION_LOADED, lambda: orchestrator.location_loaded(port)),
            (DAEMON_READY, lambda: orchestrator.daemon_ready(port)),
        ],
    ]


def dashboard_row_count(settings, speed) -> int:
    """Transactions the dashboard shows now: the local SPICE plus the speed layer's freshly
    landed rows, through the dashboard's own session; 0 while S3 cannot be read."""
    import botocore.exceptions

    from txviz_pipeline.serving.queries import DATASET_TABLE
    from txviz_pipeline.serving.snapshot import dashboard_session

    try:
        with dashboard_session(settings.spice_path, speed) as session:
            if not session.has_data:
                return 0
            return session.con.execute(f"SELECT count(*) FROM {DATASET_TABLE}").fetchone()[0]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
        return 0


def _watch(settings, servers, timeline, csv, replay_config, exit_when_ready) -> int:
    """Poll until everything answers and the dashboard has data; print each step once."""
    from txviz_pipeline import aws
    from txviz_pipeline.serving.speed import SpeedLayer

    chains = _readiness(servers)
    s3 = aws.client("s3", settings, max_attempts=1)
    speed = SpeedLayer(s3, settings.bucket)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        servers.check_alive(settings)
        pending = [next((c for c in chain if c[0] not in timeline), None) for chain in chains]
        pending = [check for check in pending if check is not None]
        for event, ready in pending:
            if ready():
                timeline.mark(event)
        if not pending and ALL_READY not in timeline:
            timeline.mark(ALL_READY)
            print("Ctrl-C stops everything txviz started.", flush=True)
        if pending and time.monotonic() > deadline:
            names = ", ".join(event for event, _ in pending)
            raise TimeoutError(f"not ready after {READY_TIMEOUT_S:.0f}s: {names}")
        replay = servers.procs.get("replay")
        if replay is not None and replay.poll() is not None and "replay ended" not in timeline:
            timeline.mark("replay ended")
            if replay.returncode:
                print(
                    f"replay run failed ({replay.returncode}); see the run in the Dagster UI",
                    flush=True,
                )
        if csv is not None and FIRST_LANDED not in timeline and _landed(s3, settings):
            timeline.mark(FIRST_LANDED)
        if FIRST_DATA not in timeline and (rows := dashboard_row_count(settings, speed)):
            if csv is not None:
                # The replay's rows on the page came from landing: a landing listing that failed
                # this poll (a busy stack) must not order the first record after its data.
                timeline.mark(FIRST_LANDED)
            timeline.mark(FIRST_DATA)
            print(
                f"first dashboard data after {timeline.events[FIRST_DATA]:.1f}s "
                f"({rows:,} transactions)",
                flush=True,
            )
        if exit_when_ready and ALL_READY in timeline and FIRST_DATA in timeline:
            return 0
        time.sleep(POLL_S)
