"""The local Dagster instance: DAGSTER_HOME, the webserver and daemon, launching runs.

Used by ``txviz demo`` and the end-to-end tests; in production Dagster runs as its own service.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from txviz_pipeline.processes import start_group, wait_for_http
from txviz_pipeline.settings import LOCALHOST, REPO_ROOT, Settings

LOCATION_NAME = "txviz_pipeline"

# One run at a time per landing hour (an older run must not overwrite a newer hour's Parquet)
# and one SPICE refresh at a time (each swaps the whole local SPICE file).
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: 4
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


def dagster_env(settings: Settings, base_env: dict[str, str]) -> dict[str, str]:
    env = dict(base_env)
    env["DAGSTER_HOME"] = str(prepare_dagster_home(settings))
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    env["TXVIZ_HOME"] = str(settings.home)
    return env


def start_dagster(settings: Settings, port: int, env: dict[str, str]) -> subprocess.Popen:
    """Start ``dagster dev`` (webserver + daemon) on 127.0.0.1:``port`` in its own process group."""
    dagster = Path(sys.executable).with_name("dagster")
    argv = [str(dagster), "dev", "-w", str(REPO_ROOT / "workspace.yaml")]
    argv += ["-h", LOCALHOST, "-p", str(port)]
    return start_group(
        argv,
        env=dagster_env(settings, env),
        log_path=settings.home / "logs" / "dagster.log",
        cwd=REPO_ROOT,
    )


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


def launch_replay(port: int, source_csv: str, replay: dict | None = None) -> str:
    """Launch replay_transactions_job through the GraphQL API, as the launchpad does."""
    from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson
    from txviz_pipeline.defs.ingest.jobs import replay_transactions_job

    run_config = {
        "ops": {
            transactions_ndjson.op.name: {"config": {"source_csv": source_csv}},
            firehose_replay.op.name: {"config": replay or {}},
        }
    }
    client = graphql_client(port)
    deadline = time.monotonic() + 60
    while True:
        try:
            return client.submit_job_execution(
                replay_transactions_job.name,
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
