"""transactions_parquet materialized through Dagster for one hour of moto S3 landing objects."""

import pytest

from txviz_pipeline import aws
from txviz_pipeline_tests.defs.hours import compact_hour, land_hour

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
