"""The three Dagster services of infra/dagster-ecs.yaml, started with the commands the image and
the task definitions give them, on the production dagster.yaml and workspace.yaml: the
webserver loads txviz from the code server over gRPC, the daemon runs, and the container health
checks of the template pass. PostgreSQL stands in for RDS, moto for S3 and ECS; everything
binds 127.0.0.1 (ports and hosts are the only substitutions).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from cfnlint.decode import decode_str

from txviz_pipeline import orchestrator
from txviz_pipeline.processes import start_group, stop_group
from txviz_pipeline.settings import LOCALHOST, REPO_ROOT, Settings
from txviz_pipeline_tests.support import postgres
from txviz_pipeline_tests.support.moto import free_port
from txviz_pipeline_tests.support.production_instance import DAGSTER_DIR, instance_home

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not postgres.available(), reason="PostgreSQL server binaries not installed"),
]

VENV_BIN = Path(sys.executable).parent
IMAGE_HOME = "/opt/dagster/home"


def template_commands() -> dict[str, dict[str, list[str]]]:
    template, errors = decode_str((REPO_ROOT / "infra" / "dagster-ecs.yaml").read_text())
    assert not errors
    commands = {}
    for task in ("CodeServer", "Webserver", "Daemon"):
        [c] = template["Resources"][f"{task}TaskDefinition"]["Properties"]["ContainerDefinitions"]
        commands[task] = {"command": c.get("Command"), "health": c["HealthCheck"]["Command"][1:]}
    dockerfile = (REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    [cmd] = [line for line in dockerfile.splitlines() if line.startswith("CMD ")]
    commands["CodeServer"]["command"] = json.loads(cmd.removeprefix("CMD "))
    return commands


def localised(argv: list[str], port: int | None, workspace: Path) -> list[str]:
    """``argv`` on 127.0.0.1 and ``port``, with the image's workspace path mapped to ``workspace``,
    run from this virtualenv."""
    out = [str(VENV_BIN / argv[0])]
    for word in argv[1:]:
        previous = out[-1]
        if previous == "--host":
            word = LOCALHOST
        elif previous == "--port" and port is not None:
            word = str(port)
        word = word.replace(f"{IMAGE_HOME}/workspace.yaml", str(workspace))
        word = word.replace("127.0.0.1:3000", f"{LOCALHOST}:{port}")
        out.append(word)
    return out


def wait_until(check, what: str, procs: list[subprocess.Popen], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        dead = [p.args[0] for p in procs if p.poll() is not None]
        assert not dead, f"{dead} exited while waiting for {what}"
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f}s"
        time.sleep(1)


def passes(argv: list[str], env: dict[str, str]) -> bool:
    return subprocess.run(argv, env=env, capture_output=True, timeout=60).returncode == 0


def test_services_start_with_the_stacks_commands_and_pass_their_health_checks(
    task_environment: str, moto_settings: Settings, tmp_path: Path
):
    commands = template_commands()
    code_port, web_port = free_port(), free_port()
    home = instance_home(tmp_path)
    workspace = DAGSTER_DIR / "workspace.yaml"
    with ExitStack() as stack:
        db = stack.enter_context(postgres.running_postgres())
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": db.host,
            "DAGSTER_PG_PORT": str(db.port),
            "DAGSTER_PG_USERNAME": db.user,
            "DAGSTER_PG_PASSWORD": db.password,
            "DAGSTER_CODE_SERVER_HOST": LOCALHOST,
            "DAGSTER_CODE_SERVER_PORT": str(code_port),
            "TXVIZ_MODE": "aws",
            "TXVIZ_HOME": str(tmp_path / "txviz-home"),
        }
        procs = []
        for task, port in (("CodeServer", code_port), ("Webserver", web_port), ("Daemon", None)):
            argv = localised(commands[task]["command"], port, workspace)
            proc = start_group(argv, env=env, log_path=tmp_path / f"{task}.log", cwd=tmp_path)
            stack.callback(stop_group, proc.pid)
            procs.append(proc)

        wait_until(lambda: orchestrator.location_loaded(web_port), "txviz location", procs)
        wait_until(lambda: orchestrator.daemon_ready(web_port), "healthy daemons", procs)
        for task, port in (("CodeServer", code_port), ("Webserver", web_port), ("Daemon", None)):
            health = commands[task]["health"]
            argv = localised(health, port, workspace)
            if health[0] == "python":
                argv[0] = sys.executable
            assert passes(argv, env), (task, argv)
