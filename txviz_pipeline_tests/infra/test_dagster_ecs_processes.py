"""The three Dagster services of infra/dagster-ecs.yaml, started with the commands the image and
the task definitions give them, on the production dagster.yaml and workspace.yaml: the
webserver loads txviz from the code server over gRPC, the daemon runs, the container health
checks of the template pass, and a run launched from the UI's API becomes an ECS task of the run
task definition, in the daemon's cluster and network. PostgreSQL stands in for RDS, moto for S3
and ECS, a static file server for the ECS task metadata endpoint; everything binds 127.0.0.1
(ports and hosts are the only substitutions).
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

from txviz_pipeline import aws, orchestrator
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


def daemon_task_in_moto(settings: Settings) -> dict[str, str]:
    """A cluster and a running "daemon" task in it, in moto, with its network interface; returns
    the task metadata ECS would serve that task (what the launcher copies its config from)."""
    ecs, ec2 = aws.client("ecs", settings), aws.client("ec2", settings)
    cluster = ecs.create_cluster(clusterName="txviz-dagster")["cluster"]["clusterArn"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.create_security_group(GroupName="dagster-tasks", Description="tasks")["GroupId"]
    daemon = ecs.register_task_definition(
        family="txviz-dagster-daemon",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="512",
        memory="1024",
        containerDefinitions=[{"name": "daemon", "image": "txviz:test", "memory": 1024}],
    )["taskDefinition"]["taskDefinitionArn"]
    [task] = ecs.run_task(
        cluster=cluster,
        taskDefinition=daemon,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}
        },
    )["tasks"]
    return {"Cluster": cluster, "TaskARN": task["taskArn"], "subnet": subnet, "group": group}


def run_tasks(settings: Settings, cluster: str, family: str) -> list[dict]:
    ecs = aws.client("ecs", settings)
    arns = ecs.list_tasks(cluster=cluster)["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    return [t for t in tasks if f":task-definition/{family}:" in t["taskDefinitionArn"]]


def test_services_start_pass_their_health_checks_and_launch_runs_as_ecs_tasks(
    task_environment: str, moto_settings: Settings, tmp_path: Path
):
    commands = template_commands()
    code_port, web_port = free_port(), free_port()
    home = instance_home(tmp_path)
    workspace = DAGSTER_DIR / "workspace.yaml"
    metadata = daemon_task_in_moto(moto_settings)
    metadata_dir = tmp_path / "task-metadata"
    metadata_dir.mkdir()
    (metadata_dir / "task").write_text(json.dumps(metadata))
    metadata_port = free_port()
    with ExitStack() as stack:
        db = stack.enter_context(postgres.running_postgres())
        server = start_group(
            [sys.executable, "-m", "http.server", "-b", LOCALHOST, "-d", str(metadata_dir)]
            + [str(metadata_port)],
            env=dict(os.environ),
            log_path=tmp_path / "metadata.log",
        )
        stack.callback(stop_group, server.pid)
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
            # What ECS sets in every task: where the launcher finds its own task.
            "ECS_CONTAINER_METADATA_URI_V4": f"http://{LOCALHOST}:{metadata_port}",
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

        run_id = orchestrator.launch_replay(web_port, "data/sample.csv")
        family = "txviz-dagster-run"

        def launched() -> bool:
            return bool(run_tasks(moto_settings, metadata["Cluster"], family))

        wait_until(launched, "run task in ECS", procs, timeout=120)
        [task] = run_tasks(moto_settings, metadata["Cluster"], family)
        [override] = task["overrides"]["containerOverrides"]
        assert override["name"] == "run"
        assert override["command"][:3] == ["dagster", "api", "execute_run"]
        assert run_id in json.dumps(override["command"])
        [attachment] = task["attachments"]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert details["subnetId"] == metadata["subnet"]
