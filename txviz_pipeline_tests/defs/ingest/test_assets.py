"""The ingest assets materialized through Dagster: a small CSV converted, then replayed into the
embedded stack's Firehose, and reconciled against what landed."""

from pathlib import Path

import dagster as dg
import pytest

from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson
from txviz_pipeline.defs.ingest.checks import replay_reconciles
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline.settings import REPO_ROOT

pytestmark = pytest.mark.integration

ROWS = 30


def small_csv(tmp_path: Path) -> Path:
    """The first ROWS rows of data/sample.csv."""
    path = tmp_path / "small.csv"
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        path.write_text("".join(next(f) for _ in range(ROWS + 1)))
    return path


def convert_config(source: Path) -> dict:
    return {"ops": {"transactions_ndjson": {"config": {"source_csv": str(source)}}}}


def test_transactions_ndjson_converts_the_csv(tmp_path, monkeypatch):
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "home"))
    # No endpoint is set, which means AWS: keep the dataset local, as the embedded stack does.
    monkeypatch.setenv("TXVIZ_STATE_STORE", "local")
    monkeypatch.setenv("TXVIZ_DATA_DIRS", str(tmp_path))
    source = small_csv(tmp_path)
    result = dg.materialize(
        [transactions_ndjson],
        resources={"aws": AwsResource()},
        run_config=convert_config(source),
    )
    output = result.output_for_node("transactions_ndjson")
    assert output == {
        "dataset_dir": str(tmp_path / "home" / "ndjson" / "small"),
        "source": str(source),
        "rows": ROWS,
    }
    (materialization,) = result.asset_materializations_for_node("transactions_ndjson")
    assert materialization.metadata["rejected"].value == 0
    assert materialization.metadata["staged"].value == "local only"
    assert (Path(output["dataset_dir"]) / "manifest.json").exists()


def test_a_header_only_csv_fails_the_conversion_clearly(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TXVIZ_HOME", str(home))
    source = home / "empty.csv"
    home.mkdir()
    with (REPO_ROOT / "data" / "sample.csv").open() as f:
        source.write_text(next(f))
    result = dg.materialize(
        [transactions_ndjson],
        resources={"aws": AwsResource()},
        run_config=convert_config(source),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    cause = failure.step_failure_data.error.cause
    assert cause.cls_name == "SourceFileError" and "header but no rows" in cause.message


def test_firehose_replay_lands_every_row_and_reconciles(embedded_stack, tmp_path, monkeypatch):
    for key, value in embedded_stack.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TXVIZ_DATA_DIRS", str(tmp_path))
    replay_id = f"defs-test-{tmp_path.name}"
    run_config = convert_config(small_csv(tmp_path))
    run_config["ops"]["firehose_replay"] = {"config": {"processes": 1, "replay_id": replay_id}}
    result = dg.materialize(
        [transactions_ndjson, firehose_replay, replay_reconciles],
        resources={"aws": AwsResource(), "guards": GuardsResource(reconcile_wait_s=60)},
        run_config=run_config,
    )
    assert result.success
    (materialization,) = result.asset_materializations_for_node("firehose_replay")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["replay_id"], meta["rows"], meta["sent"], meta["failed"]) == (
        replay_id,
        ROWS,
        ROWS,
        0,
    )
    assert meta["complete"] and meta["dead_lettered"] == 0
    assert "| started |" in meta["events"]
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.description
    assert evaluation.metadata["landed_ok"].value == ROWS
