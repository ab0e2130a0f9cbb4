"""The local Dagster instance: DAGSTER_HOME, the webserver and daemon, launching runs.

Used by ``txviz demo`` and the end-to-end tests; in production Dagster runs as its own service.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from txviz_pipeline.processes import http_ok, start_group, wait_for_http
from txviz_pipeline.settings import DAGSTER_PORT_ENV, LOCALHOST, REPO_ROOT, Settings

LOCATION_NAME = "txviz_pipeline"

# One run at a time per landing hour (an older run must not overwrite a newer hour's Parquet)
# and one SPICE refresh at a time (each swaps the whole local SPICE file). The queue is checked
# every second (Dagster's default is 5): each landing and SPICE run waits in it on the way from
# a landed record to the dashboard. Sensors are evaluated in threads, each on its own cadence:
# a slow tick (the fraud sensor reading a busy minute of landing objects) never delays the
# landing sensor's next one. Jobs opt in to retries with the dagster/max_retries tag.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_retries:
  enabled: true
  max_retries: 0
sensors:
  use_threads: true
  num_workers: 4
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
    dequeue_interval_seconds: 1
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
      - key: txviz/stage
        value: spice
        limit: 1
"""


def dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME of the local instance: under the git-ignored TXVIZ_HOME."""
    return settings.home / "dagster"


def prepare_dagster_home(settings: Settings) -> Path:
    """Create DAGSTER_HOME with txviz's instance settings."""
    home = dagster_home(settings)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    return home


def instance_ready_path(settings: Settings) -> Path:
    """Exists once the instance's storage has been created (see ``prepare_instance``)."""
    return dagster_home(settings) / ".storage-ready"


def prepare_instance(settings: Settings) -> Path:
    """DAGSTER_HOME with its storage created, so that processes starting at once against it
    (``dagster dev`` and a replay run) never race to create the same SQLite tables."""
    from dagster import DagsterInstance

    home = prepare_dagster_home(settings)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.get_runs_count()
    instance_ready_path(settings).touch()
    return home


def wait_for_instance(settings: Settings, proc: subprocess.Popen, timeout=120.0) -> None:
    """Wait until ``proc`` (started with ``prepare_first``) has created the instance's storage."""
    deadline = time.monotonic() + timeout
    while not instance_ready_path(settings).exists():
        if proc.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {proc.returncode} while starting")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Dagster instance was not ready in {timeout:.0f}s")
        time.sleep(0.1)


def dagster_env(settings: Settings, base_env: dict[str, str]) -> dict[str, str]:
    env = dict(base_env)
    env["DAGSTER_HOME"] = str(prepare_dagster_home(settings))
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    env["TXVIZ_HOME"] = str(settings.home)
    return env


def start_dagster(
    settings: Settings,
    port: int,
    env: dict[str, str],
    nice: int = 0,
    prepare_first: bool = False,
) -> subprocess.Popen:
    """Start ``dagster dev`` (webserver + daemon) on 127.0.0.1:``port`` in its own process group
    (``nice``: see ``processes.start_group``). ``prepare_first``: the process first creates the
    instance's storage (``prepare_instance``, then ``wait_for_instance`` returns), then becomes
    ``dagster dev``, so no other process needs to import Dagster for it."""
    argv = dagster_command(port)
    if prepare_first:
        # The storage is created at full priority (a replay run waits for it), then niced.
        instance_ready_path(settings).unlink(missing_ok=True)
        argv = [sys.executable, "-m", __name__, str(nice), *argv]
        nice = 0
    return start_group(
        argv,
        # The port it serves on is the one alert links point at (Settings.dagster_url).
        env=dagster_env(settings, {**env, DAGSTER_PORT_ENV: str(port)}),
        log_path=settings.home / "logs" / "dagster.log",
        cwd=REPO_ROOT,
        nice=nice,
    )


def dagster_command(port: int) -> list[str]:
    return [
        str(Path(sys.executable).with_name("dagster")),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        LOCALHOST,
        "-p",
        str(port),
    ]


def wait_for_dagster(port: int, proc: subprocess.Popen, settings: Settings, timeout=120.0):
    wait_for_http(
        f"http://{LOCALHOST}:{port}/server_info",
        timeout=timeout,
        proc=proc,
        log_path=settings.home / "logs" / "dagster.log",
    )


def graphql_client(port: int):
    from dagster_graphql import DagsterGraphQLClient

    return DagsterGraphQLClient(LOCALHOST, port_number=port, timeout=60)


REPLAY_JOB = "replay_transactions_job"


# The ops of replay_transactions_job's two assets (named as the assets; a test holds them equal),
# spelled out so that building a run config never imports Dagster or the definitions.
CONVERT_OP = "transactions_ndjson"
REPLAY_OP = "firehose_replay"


def replay_run_config(source_csv: str, replay: dict | None = None) -> dict:
    """The run config of replay_transactions_job, as the launchpad fills it in."""
    return {
        "ops": {
            CONVERT_OP: {"config": {"source_csv": source_csv}},
            REPLAY_OP: {"config": replay or {}},
        }
    }


def start_replay_run(
    settings: Settings, env: dict[str, str], source_csv: str, replay: dict | None = None
) -> subprocess.Popen:
    """Run replay_transactions_job in a process of its own (``dagster job execute``), recorded
    in the local instance like a launched run: its logs, asset materializations and checks show
    in the UI. Needs no webserver, so it can start while ``dagster dev`` is still loading.
    Output goes to <home>/logs/replay.log."""
    config = prepare_dagster_home(settings) / "replay-run.json"
    config.write_text(json.dumps(replay_run_config(source_csv, replay)))
    argv = [
        str(Path(sys.executable).with_name("dagster")),
        "job",
        "execute",
        "-m",
        "txviz_pipeline.definitions",
        "-j",
        REPLAY_JOB,
        "-c",
        str(config),
        "--tags",
        json.dumps({"txviz/launched-by": "txviz demo"}),
    ]
    return start_group(
        argv,
        env=dagster_env(settings, env),
        log_path=settings.home / "logs" / "replay.log",
        cwd=REPO_ROOT,
    )


def launch_replay(port: int, source_csv: str, replay: dict | None = None) -> str:
    """Launch replay_transactions_job through the GraphQL API, as the launchpad does."""
    run_config = replay_run_config(source_csv, replay)
    client = graphql_client(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            return client.submit_job_execution(
                REPLAY_JOB,
                repository_location_name=LOCATION_NAME,
                run_config=run_config,
            )
        except Exception:
            # The code location may still be loading right after the webserver answers.
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


FAILED_RUNS_QUERY = """
query FailedRuns {
  runsOrError(filter: {statuses: [FAILURE]}) {
    ... on Runs { results { runId jobName } }
  }
}
"""


def failed_runs(port: int) -> list[tuple[str, str]]:
    """(job name, run id) of every failed run, read over GraphQL."""
    result = graphql_client(port)._execute(FAILED_RUNS_QUERY)
    return [(r["jobName"], r["runId"]) for r in result["runsOrError"]["results"]]


def _query(port: int, query: str) -> dict | None:
    """The ``data`` of a GraphQL query, None while the webserver does not answer it."""
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read()).get("data")
    except (OSError, ValueError):
        return None


def webserver_ready(port: int) -> bool:
    return http_ok(f"http://{LOCALHOST}:{port}/server_info")


LOCATION_QUERY = """
query Locations {
  workspaceOrError { ... on Workspace {
    locationEntries { name loadStatus locationOrLoadError { __typename } }
  } }
}
"""


def location_loaded(port: int) -> bool:
    """True once the webserver has loaded txviz's code location (the launchpad can use it)."""
    data = _query(port, LOCATION_QUERY) or {}
    for entry in (data.get("workspaceOrError") or {}).get("locationEntries", []):
        if entry["name"] == LOCATION_NAME and entry["loadStatus"] == "LOADED":
            location = entry.get("locationOrLoadError") or {}
            return location.get("__typename") == "RepositoryLocation"
    return False


DAEMON_QUERY = """
query Daemons {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


def daemon_ready(port: int) -> bool:
    """True once every required daemon (sensors, schedules, run queue) reports healthy."""
    data = _query(port, DAEMON_QUERY) or {}
    statuses = (((data.get("instance") or {}).get("daemonHealth")) or {}).get(
        "allDaemonStatuses", []
    )
    required = [s for s in statuses if s["required"]]
    return bool(required) and all(s["healthy"] for s in required)


def _prepare_then_exec(nice: int, argv: list[str]) -> None:
    prepare_instance(Settings.from_env())
    if nice:
        os.nice(nice)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    _prepare_then_exec(int(sys.argv[1]), sys.argv[2:])
