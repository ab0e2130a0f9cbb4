"""replay_reconciles run through Dagster, after a replay whose rows did or did not all land."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import orjson
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.ingest.assets import firehose_replay
from txviz_pipeline.defs.ingest.checks import replay_reconciles
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline_tests.compaction.records import landing_record, ndjson, processing_failed_line

pytestmark = pytest.mark.integration

ROWS = 10
REPLAY_ID = "reconcile-test"


def dataset(path: Path) -> Path:
    """An NDJSON dataset of ROWS rows, as ingest/convert.py writes it."""
    path.mkdir()
    (path / "part-00000.ndjson").write_bytes(
        b"".join(orjson.dumps({"row_id": i, "amt": "1.00"}) + b"\n" for i in range(ROWS))
    )
    (path / "manifest.json").write_bytes(orjson.dumps({"parts": [{"name": "part-00000.ndjson"}]}))
    return path


def replay_stand_in(dataset_dir: Path, **more: object) -> dg.AssetsDefinition:
    """firehose_replay as the replay reports it, without sending: the test lands the rows."""

    @dg.asset(key=firehose_replay.key)
    def replayed() -> dg.MaterializeResult:
        return dg.MaterializeResult(
            metadata={
                "replay_id": REPLAY_ID,
                "rows_total": ROWS,
                "dataset_dir": dg.MetadataValue.path(str(dataset_dir)),
                "duration_s": 1.0,
                **more,
            }
        )

    return replayed


def land(settings, ok_rows: list[int], failed_rows: list[int]) -> None:
    s3 = aws.client("s3", settings)
    s3.create_bucket(Bucket=settings.bucket)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    records = [landing_record(i, replay_id=REPLAY_ID) for i in ok_rows]
    s3.put_object(Bucket=settings.bucket, Key=f"landing/{hour}/obj-1", Body=ndjson(records))
    failed = [processing_failed_line(i, REPLAY_ID, "bad_value: amt") for i in failed_rows]
    s3.put_object(
        Bucket=settings.bucket,
        Key=f"errors/processing-failed/{hour}/err-1",
        Body=b"\n".join(failed) + b"\n",
    )


def reconcile(dataset_dir: Path, **more: object) -> tuple[bool, dg.AssetCheckEvaluation]:
    result = dg.materialize(
        [replay_stand_in(dataset_dir, **more), replay_reconciles],
        resources={"aws": AwsResource(), "guards": GuardsResource(reconcile_wait_s=0)},
        raise_on_error=False,
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "replay_reconciles"
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    return result.success, evaluation


def test_replay_reconciles_when_every_row_landed_or_failed(moto_settings, tmp_path):
    land(moto_settings, ok_rows=list(range(8)), failed_rows=[8, 9])
    success, evaluation = reconcile(dataset(tmp_path / "ds"))
    assert success and evaluation.passed, evaluation.description
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert (meta["sent"], meta["landed_ok"], meta["processing_failed"]) == (10, 8, 2)
    assert meta["missing"] == 0


def test_replay_fails_and_names_the_missing_rows(moto_settings, tmp_path):
    land(moto_settings, ok_rows=[0, 1, 2, 4, 5, 6, 8], failed_rows=[9])
    success, evaluation = reconcile(dataset(tmp_path / "ds"))
    assert not evaluation.passed
    assert not success  # blocking: the run fails
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert meta["missing"] == 2
    assert meta["missing_row_ids"] == "3, 7"
    assert "MISSING 2 rows: row_id 3, 7" in evaluation.description


def test_a_part_reconciles_its_own_rows(moto_settings, tmp_path):
    """Part 2 of 2 sent rows 5..9: they landed, and rows 0..4 (part 1's) are not its missing."""
    land(moto_settings, ok_rows=[5, 6, 7, 8, 9], failed_rows=[])
    success, evaluation = reconcile(dataset(tmp_path / "ds"), first_row=5)
    assert success and evaluation.passed, evaluation.description
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert (meta["rows"], meta["landed_ok"], meta["missing"]) == (5, 5, 0)
