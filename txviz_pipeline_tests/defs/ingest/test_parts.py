"""A replay in parts from the launchpad: the plan, and one part run per part."""

import dagster as dg
import pytest

from txviz_pipeline.definitions import defs as load_defs
from txviz_pipeline.defs.ingest.parts import (
    part_run_requests,
    replay_part_job,
    replay_parts_plan,
)
from txviz_pipeline.defs.resources import AwsResource


def test_each_part_gets_one_run_with_the_plans_options():
    config = {"ops": {"replay_parts_plan": {"config": {"parts": 3, "max_bytes_per_s": 3000}}}}
    requests = part_run_requests("run-1", config)
    assert [r.run_key for r in requests] == [f"run-1.part-{n}-of-3" for n in (1, 2, 3)]
    for number, request in enumerate(requests, start=1):
        part = request.run_config["ops"]["firehose_replay"]["config"]
        assert part == {"parts": 3, "max_bytes_per_s": 3000, "replay_id": "run-1", "part": number}
        assert request.tags["txviz/part"] == f"{number}/3"


def test_part_runs_fit_the_part_job_and_check_their_rows():
    job = load_defs().get_repository_def().get_job(replay_part_job.name)
    for request in part_run_requests("r", {"ops": {"replay_parts_plan": {"config": {"parts": 2}}}}):
        assert job.run_config_schema.config_type  # the schema exists
        result = dg.validate_run_config(job, request.run_config)
        assert result["ops"]["firehose_replay"]["config"]["part"] in (1, 2)
    checks = {k.name for k in job.asset_layer.asset_graph.asset_check_keys}
    assert "replay_reconciles" in checks


@dg.asset(name="transactions_ndjson")
def _converted() -> dict:
    return {"dataset_dir": "/nowhere", "source": "/nowhere.csv", "rows": 1_000}


def test_the_plan_names_each_parts_rows_and_share(tmp_path):
    result = dg.materialize(
        [_converted, replay_parts_plan],
        resources={"aws": AwsResource(home=str(tmp_path))},
        run_config={"ops": {"replay_parts_plan": {"config": {"parts": 4, "replay_id": "planned"}}}},
    )
    (event,) = result.asset_materializations_for_node("replay_parts_plan")
    meta = event.metadata
    summary = (meta["replay_id"].value, meta["parts"].value, meta["rows"].value)
    assert summary == ("planned", 4, 1000)
    plan = meta["plan"].value
    assert "planned.part-4-of-4 | 750..1,000" in plan and "1310720.0" in plan


def test_a_plan_needs_two_parts_or_more(tmp_path):
    with pytest.raises(dg.Failure, match="parts: 2 or more"):
        dg.materialize(
            [_converted, replay_parts_plan],
            resources={"aws": AwsResource(home=str(tmp_path))},
            run_config={"ops": {"replay_parts_plan": {"config": {"parts": 1}}}},
        )
