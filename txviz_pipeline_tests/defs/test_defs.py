"""The code location loads, and holds exactly the assets, checks, jobs, sensors and schedules
the pipeline documents."""

from pathlib import Path

import dagster as dg
import pytest

import txviz_pipeline.defs
from txviz_pipeline.definitions import defs as load_defs
from txviz_pipeline.defs.fraud.assets import fraud_model
from txviz_pipeline.defs.landing.assets import landing_transactions
from txviz_pipeline.settings import PARTITION_FMT


@pytest.fixture(scope="module")
def repo():
    return load_defs().get_repository_def()


def test_assets_form_one_lineage(repo):
    graph = repo.asset_graph
    chain = [
        "sparkov_csv",
        "transactions_ndjson",
        "firehose_replay",
        "landing_transactions",
        "transactions_parquet",
        "spice_dataset",
        "live_dashboard",
    ]
    # The fraud model learns from the curated Parquet, beside the serving branch.
    model = ["transactions_parquet", "fraud_model", "published_fraud_model"]
    # A replay in parts is planned from the same NDJSON, then sent as firehose_replay runs.
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == set(chain + model) | {
        "replay_parts_plan"
    }
    for line in (chain, model):
        for upstream, downstream in zip(line, line[1:], strict=False):
            parents = graph.get(dg.AssetKey(downstream)).parent_keys
            assert dg.AssetKey(upstream) in parents, f"{upstream} -> {downstream}"


def test_landing_checks(repo):
    checks = {(k.asset_key.to_user_string(), k.name) for k in repo.asset_graph.asset_check_keys}
    assert checks == {
        ("landing_transactions", "landing_records_parse"),
        ("landing_transactions", "landing_schema_conforms"),
        ("landing_transactions", "no_duplicate_trans_num"),
        ("landing_transactions", "bad_record_rate_below_threshold"),
        ("landing_transactions", "landing_fresh_during_replay"),
        ("firehose_replay", "replay_reconciles"),
        ("fraud_model", "not_worse_than_current"),
    }
    specs = {s.name: s for s in landing_transactions.check_specs}
    assert specs["landing_records_parse"].blocking
    assert specs["landing_schema_conforms"].blocking
    (model_check,) = fraud_model.check_specs
    assert model_check.name == "not_worse_than_current" and model_check.blocking


def test_jobs_sensors_schedules(repo):
    jobs = {j.name for j in repo.get_all_jobs() if not j.name.startswith("__")}
    assert jobs == {
        "replay_transactions_job",
        "replay_in_parts_job",
        "replay_part_job",
        "process_landing_job",
        "refresh_spice_job",
        "train_fraud_model_job",
    }
    sensors = {s.name: s for s in repo.sensor_defs}
    assert set(sensors) == {
        "landing_objects_sensor",
        "compaction_sensor",
        "landing_freshness_sensor",
        "check_evaluation_sensor",
        "run_failure_alert_sensor",
        "fraud_activity_sensor",
        "replay_parts_sensor",
    }
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())
    schedules = {s.name: s for s in repo.schedule_defs}
    assert set(schedules) == {"quarter_hourly_spice_schedule", "nightly_fraud_model_schedule"}
    assert schedules["quarter_hourly_spice_schedule"].job_name == "refresh_spice_job"
    nightly = schedules["nightly_fraud_model_schedule"]
    assert nightly.job_name == "train_fraud_model_job"
    assert nightly.default_status == dg.DefaultScheduleStatus.STOPPED


def test_landing_partitions_match_firehose_prefixes(repo):
    partitions = repo.asset_graph.get(dg.AssetKey("landing_transactions")).partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.fmt == PARTITION_FMT == "%Y/%m/%d/%H"
    assert partitions.get_last_partition_key().count("/") == 3


def test_replay_config_is_described_in_the_launchpad(repo):
    job = repo.get_job("replay_transactions_job")
    ops_config = job.run_config_schema.config_type.fields["ops"].config_type.fields
    replay_fields = ops_config["firehose_replay"].config_type.fields["config"].config_type.fields
    for name in ("rows", "processes", "speed", "max_records_per_s", "replay_id"):
        assert replay_fields[name].description, name
    convert_fields = (
        ops_config["transactions_ndjson"].config_type.fields["config"].config_type.fields
    )
    assert convert_fields["source_csv"].description


def test_landing_job_checks_and_compacts_in_one_process(repo):
    job = repo.get_job("process_landing_job")
    assert set(job.graph.node_names()) == {"landing_transactions", "transactions_parquet"}
    assert job.executor_def.name == "in_process"
    # Its sensor evaluates the freshness check; each landing run evaluates the other four.
    checks = {k.name for k in job.asset_layer.asset_graph.asset_check_keys}
    assert checks == {
        "landing_records_parse",
        "landing_schema_conforms",
        "no_duplicate_trans_num",
        "bad_record_rate_below_threshold",
    }


def test_every_definition_is_described(repo):
    described = {
        **{
            f"asset {k.to_user_string()}": repo.asset_graph.get(k).description
            for k in repo.asset_graph.get_all_asset_keys()
        },
        **{
            f"check {k.name}": repo.asset_graph.get_check_spec(k).description
            for k in repo.asset_graph.asset_check_keys
        },
        **{
            f"job {j.name}": j.description
            for j in repo.get_all_jobs()
            if not j.name.startswith("__")
        },
        **{f"sensor {s.name}": s.description for s in repo.sensor_defs},
        **{f"schedule {s.name}": s.description for s in repo.schedule_defs},
        **{f"resource {k}": r.description for k, r in repo.get_top_level_resources().items()},
    }
    assert [name for name, text in described.items() if not text] == []


# Stages in pipeline order: a stage's definitions may import only earlier stages and the shared
# modules (resources, partitions), so the wiring reads from the top of the pipeline down.
STAGES = ["ingest", "landing", "compaction", "serving", "fraud", "alerts"]


def test_stages_import_only_earlier_stages():
    import ast

    defs_dir = Path(txviz_pipeline.defs.__file__).parent
    upward = []
    for position, stage in enumerate(STAGES):
        for module in sorted((defs_dir / stage).glob("*.py")):
            for node in ast.walk(ast.parse(module.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "txviz_pipeline.defs."
                ):
                    imported = node.module.split(".")[2]
                    if imported in STAGES and STAGES.index(imported) > position:
                        upward.append(f"{stage}/{module.name} imports {node.module}")
    assert upward == []
    assert {p.name for p in defs_dir.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(
        STAGES
    )


def test_no_definition_reads_the_environment():
    defs_dir = Path(txviz_pipeline.defs.__file__).parent
    readers = [p.name for p in defs_dir.rglob("*.py") if "os.environ" in p.read_text()]
    assert readers == []
