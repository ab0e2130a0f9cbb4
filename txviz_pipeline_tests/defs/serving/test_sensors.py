"""The serving sensor, evaluated the way the daemon does."""

import dagster as dg

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.serving.jobs import refresh_spice_job
from txviz_pipeline.defs.serving.sensors import compaction_sensor


def test_compaction_sensor_refreshes_spice_after_new_parquet():
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        assert not list(compaction_sensor.evaluate_tick(context).run_requests)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(transactions_parquet.key, partition="2026/11/27/09")
        )
        result = compaction_sensor.evaluate_tick(context)
        (request,) = result.run_requests
        assert request.job_name in (None, refresh_spice_job.name)
        assert request.run_key
