"""The parsed infra/template.yaml, read with cfn-lint's decoder (it knows !Ref, !Sub, !GetAtt)."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import decode_str

from txviz_pipeline import aws, settings
from txviz_pipeline.settings import Settings
from txviz_pipeline_tests.support.production_instance import (
    COMPUTE_LOG_BUCKET,
    register_run_task_definition,
)

TEMPLATE_PATH = settings.REPO_ROOT / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert not errors, errors
    return parsed


def checkov_skips(template: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(logical id, skip) for every checkov check a resource skips inline."""
    return [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]


@pytest.fixture
def task_environment(moto_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> str:
    """The non-secret variables the Dagster task definitions set, pointing at moto (the compute-log
    bucket and the run task definition exist there); returns the bucket."""
    aws.client("s3", moto_settings).create_bucket(Bucket=COMPUTE_LOG_BUCKET)
    monkeypatch.setenv("DAGSTER_COMPUTE_LOG_BUCKET", COMPUTE_LOG_BUCKET)
    monkeypatch.setenv("DAGSTER_RUN_TASK_DEFINITION", register_run_task_definition(moto_settings))
    monkeypatch.setenv("DAGSTER_PG_DB", "dagster")
    return COMPUTE_LOG_BUCKET
