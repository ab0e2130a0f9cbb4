"""The fraud model's training data reads every curated part, one row per trans_num."""

import pytest

from txviz_pipeline import aws
from txviz_pipeline.fraud import dataset
from txviz_pipeline_tests.compaction.records import landing_record
from txviz_pipeline_tests.serving.curated import parquet_bytes

pytestmark = pytest.mark.integration


def test_parts_of_an_hour_and_later_copies_count_once(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    parts = {
        "arrival_hour=2026-11-27-09/part-00000.parquet": range(0, 10),
        "arrival_hour=2026-11-27-09/part-00001.parquet": range(10, 25),
        # Records 3 and 12 delivered again an hour later (at-least-once).
        "arrival_hour=2026-11-27-10/part-00000.parquet": [3, 12, *range(25, 30)],
    }
    for name, ids in parts.items():
        body = parquet_bytes([landing_record(i) for i in ids])
        s3.put_object(Bucket=bucket, Key=f"curated/transactions/{name}", Body=body)

    frame = dataset.read_curated(moto_settings)

    assert sorted(frame["trans_num"]) == [landing_record(i)["trans_num"] for i in range(30)]
    assert list(frame.columns) == list(dataset.COLUMNS)
