"""transactions_parquet materialized through Dagster for one hour of moto S3 landing objects."""

import pytest

from txviz_pipeline import aws
from txviz_pipeline_tests.compaction.records import landing_record, ndjson
from txviz_pipeline_tests.defs.hours import HOUR, compact_hour, land_hour

pytestmark = pytest.mark.integration


def test_transactions_parquet_compacts_the_hour_once(moto_settings):
    land_hour(moto_settings)
    result = compact_hour()
    (materialization,) = result.asset_materializations_for_node("transactions_parquet")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["objects"], meta["lines"], meta["rows"]) == (2, 13, 12)
    assert (meta["duplicates_removed"], meta["bad_lines"]) == (1, 0)
    s3 = aws.client("s3", moto_settings)
    s3.head_object(
        Bucket=moto_settings.bucket, Key=meta["key"].removeprefix(f"s3://{moto_settings.bucket}/")
    )


def test_a_second_run_merges_only_the_new_object(moto_settings):
    land_hour(moto_settings)
    compact_hour()
    s3 = aws.client("s3", moto_settings)
    late = ndjson([landing_record(i) for i in (11, 12, 13)])
    s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{HOUR}/c", Body=late)
    (materialization,) = compact_hour().asset_materializations_for_node("transactions_parquet")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert (meta["objects"], meta["lines"], meta["rows"], meta["duplicates_removed"]) == (
        1, 3, 2, 1,
    )  # fmt: skip
    assert (meta["hour_lines"], meta["hour_rows"], meta["hour_duplicates_removed"]) == (16, 14, 2)
    assert meta["parts"] == 2 and meta["key"].endswith("part-00001.parquet")
