"""The production Dagster instance (infra/dagster/dagster.yaml) loads, with Dagster's own config
validation, against PostgreSQL over TLS and moto standing in for S3 and ECS: the same
environment variables the task definitions in infra/dagster-ecs.yaml set.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterInvalidConfigError
from dagster_aws.ecs import EcsRunLauncher
from dagster_aws.s3 import S3ComputeLogManager
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

from txviz_pipeline import orchestrator
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.serving.jobs import refresh_spice_job
from txviz_pipeline.settings import Settings
from txviz_pipeline_tests.support import postgres
from txviz_pipeline_tests.support.production_instance import (
    DAGSTER_DIR,
    instance_home,
    register_run_task_definition,
)

pytestmark = pytest.mark.integration


def production_config() -> dict:
    return yaml.safe_load((DAGSTER_DIR / "dagster.yaml").read_text())


def test_production_instance_loads_on_postgres_s3_and_ecs(
    task_environment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # Not a skip: a suite that passes without the database has not tested the instance.
    if not postgres.available():
        pytest.fail("PostgreSQL is not installed: run ./scripts/bootstrap.sh --browser (make test)")
    with postgres.running_postgres() as db:
        monkeypatch.setenv("DAGSTER_PG_HOST", db.host)
        monkeypatch.setenv("DAGSTER_PG_PORT", str(db.port))
        monkeypatch.setenv("DAGSTER_PG_USERNAME", db.user)
        monkeypatch.setenv("DAGSTER_PG_PASSWORD", db.password)
        with DagsterInstance.from_config(str(instance_home(tmp_path))) as instance:
            assert isinstance(instance.run_storage, PostgresRunStorage)
            assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
            assert isinstance(instance.run_launcher, EcsRunLauncher)
            assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
            assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
            assert instance.get_runs_count() == 0
        # Dagster created its schema in the database, over TLS, with the password from the
        # environment (the server accepts no other: scram-sha-256, no trust).
        assert {"runs", "event_logs", "jobs", "job_ticks"} <= postgres.table_names(db)


def test_instance_names_the_missing_secret(
    task_environment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Without the variables ECS injects from Secrets Manager, loading fails and says which."""
    monkeypatch.setenv("DAGSTER_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("DAGSTER_PG_PORT", "5432")
    monkeypatch.setenv("DAGSTER_PG_USERNAME", "dagster")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    with pytest.raises(DagsterInvalidConfigError, match="DAGSTER_PG_PASSWORD"):
        DagsterInstance.from_config(str(instance_home(tmp_path))).get_runs_count()


def test_run_launcher_needs_a_run_task_definition_with_a_run_container(
    moto_settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    """The launcher checks, at load, that the task definition has the container it overrides."""
    config = production_config()["run_launcher"]["config"]
    wrong = register_run_task_definition(moto_settings, container="app")
    monkeypatch.setenv("DAGSTER_RUN_TASK_DEFINITION", wrong)
    with pytest.raises(Exception, match="container 'run'"):
        EcsRunLauncher(**config)
    monkeypatch.setenv("DAGSTER_RUN_TASK_DEFINITION", register_run_task_definition(moto_settings))
    launcher = EcsRunLauncher(**config)
    assert launcher.container_name == "run"
    assert launcher.task_definition.endswith("task-definition/txviz-dagster-run:2")


def test_queue_limits_match_the_local_instance():
    """One run per landing hour and one SPICE refresh at a time, on AWS as on the local stack."""
    local = yaml.safe_load(orchestrator.DAGSTER_YAML)["run_coordinator"]
    production = production_config()["run_coordinator"]
    assert production["class"] == local["class"] == "QueuedRunCoordinator"
    assert (
        production["config"]["tag_concurrency_limits"] == local["config"]["tag_concurrency_limits"]
    )


def test_sensors_tick_in_threads_on_aws_as_locally():
    """A slow sensor (the fraud sensor at volume) must not hold the landing sensor back."""
    local = yaml.safe_load(orchestrator.DAGSTER_YAML)["sensors"]
    assert production_config()["sensors"] == local
    assert local["use_threads"] is True
    assert local["num_workers"] >= 2


def test_runs_that_fail_to_start_are_retried_on_aws_as_locally():
    """A landing run that never started must run again: later objects were folded into it."""
    local = yaml.safe_load(orchestrator.DAGSTER_YAML)["run_retries"]
    assert production_config()["run_retries"] == local
    assert local["enabled"] is True
    for job in (process_landing_job, refresh_spice_job):
        assert int(job.tags["dagster/max_retries"]) >= 1, job.name
        assert job.tags["dagster/retry_on_asset_or_op_failure"] == "false", job.name


def test_workspace_loads_the_code_server_over_grpc():
    workspace = yaml.safe_load((DAGSTER_DIR / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    assert location["grpc_server"]["location_name"] == orchestrator.LOCATION_NAME
    assert location["grpc_server"]["host"] == {"env": "DAGSTER_CODE_SERVER_HOST"}
