"""The production Dagster instance (infra/dagster/dagster.yaml) in a test: its DAGSTER_HOME
with scratch paths under a temporary folder, and the run task definition it expects, in moto."""

from __future__ import annotations

from pathlib import Path

from txviz_pipeline import aws
from txviz_pipeline.settings import REPO_ROOT, Settings

DAGSTER_DIR = REPO_ROOT / "infra" / "dagster"
# Where the image puts the instance's scratch files (the task's /tmp volume).
TASK_SCRATCH = "/tmp/"
COMPUTE_LOG_BUCKET = "txviz-dagster-compute-logs"


def instance_home(tmp_path: Path) -> Path:
    """DAGSTER_HOME holding the production dagster.yaml, its scratch paths moved under
    ``tmp_path`` (the only change: the file is otherwise loaded as the image has it)."""
    text = (DAGSTER_DIR / "dagster.yaml").read_text()
    assert text.count(TASK_SCRATCH) >= 2
    home = tmp_path / "dagster-home"
    home.mkdir()
    (home / "dagster.yaml").write_text(text.replace(TASK_SCRATCH, f"{tmp_path}/"))
    return home


def register_run_task_definition(settings: Settings, container: str = "run") -> str:
    """The run task definition as the stack registers it (container ``run``), in moto."""
    ecs = aws.client("ecs", settings)
    response = ecs.register_task_definition(
        family="txviz-dagster-run",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="1024",
        memory="4096",
        # moto needs a container's memory to place the task.
        containerDefinitions=[
            {"name": container, "image": "txviz:test", "essential": True, "memory": 4096}
        ],
    )
    return response["taskDefinition"]["taskDefinitionArn"]
