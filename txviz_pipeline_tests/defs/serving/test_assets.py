"""spice_dataset materialized through Dagster on the embedded path: curated Parquet in moto S3
becomes the local DuckDB SPICE."""

import dagster as dg
import pytest

from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.assets import spice_dataset
from txviz_pipeline.demo import spice_row_count
from txviz_pipeline_tests.defs.hours import compact_hour, land_hour

pytestmark = pytest.mark.integration


def test_spice_dataset_loads_the_curated_parquet(moto_settings):
    land_hour(moto_settings, rows=12)
    compact_hour()
    result = dg.materialize([spice_dataset], resources={"aws": AwsResource()})
    (materialization,) = result.asset_materializations_for_node("spice_dataset")
    meta = {k: v.value for k, v in materialization.metadata.items()}
    assert meta["engine"] == "duckdb (local SPICE)"
    assert (meta["rows"], meta["files"]) == (12, 1)
    assert meta["path"] == str(moto_settings.spice_path)
    assert spice_row_count(moto_settings.spice_path) == 12
