"""On AWS each Dagster run may be its own ECS task: a replay launched on a machine that never
converted the dataset finds everything it needs in S3 (moto server over HTTP)."""

import shutil

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson
from txviz_pipeline.defs.resources import AwsResource, OutputsIOManager
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import IO_MANAGER_PREFIX, Settings
from txviz_pipeline_tests.defs.ingest.test_assets import ROWS, convert_config, small_csv
from txviz_pipeline_tests.ingest.replay.data import create_stream, landed_row_ids

pytestmark = pytest.mark.integration


def resources() -> dict:
    shared = AwsResource()
    return {"aws": shared, "io_manager": OutputsIOManager(aws=shared)}


def test_a_replay_on_another_machine_reads_the_dataset_from_s3(
    moto_settings, tmp_path, monkeypatch
):
    monkeypatch.setenv("TXVIZ_STATE_STORE", "s3")
    monkeypatch.setenv("TXVIZ_DATA_DIRS", str(tmp_path))
    create_stream(moto_settings)
    first = dg.materialize(
        [transactions_ndjson], resources=resources(), run_config=convert_config(small_csv(tmp_path))
    )
    (converted,) = first.asset_materializations_for_node("transactions_ndjson")
    assert converted.metadata["staged"].value.endswith("/staging/ndjson/small/")

    # The second machine: its own empty disk and Dagster instance, the same bucket.
    shutil.rmtree(moto_settings.home)
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "second-machine"))
    second = dg.materialize(
        [transactions_ndjson, firehose_replay],
        selection=[firehose_replay],
        resources=resources(),
        run_config={"ops": {"firehose_replay": {"config": {"processes": 1, "replay_id": "r2"}}}},
    )
    (replayed,) = second.asset_materializations_for_node("firehose_replay")
    assert (replayed.metadata["sent"].value, replayed.metadata["complete"].value) == (ROWS, True)
    landed = landed_row_ids(moto_settings)
    assert sorted(landed) == list(range(ROWS)) and set(landed.values()) == {1}

    settings = Settings.from_env()
    s3 = aws.client("s3", settings)
    # The checkpoint went to S3 unasked, and the handoff through Dagster's S3 IO manager.
    keys = set(iter_keys(s3, settings.bucket, ""))
    assert {"replays/r2/checkpoint.json", f"{IO_MANAGER_PREFIX}transactions_ndjson"} <= keys
    assert not settings.checkpoint_dir.exists()
    assert not moto_settings.home.exists()
