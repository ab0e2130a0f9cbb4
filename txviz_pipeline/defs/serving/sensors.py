"""SPICE follows compaction: a refresh soon after every new hourly Parquet."""

import dagster as dg

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.serving.jobs import refresh_spice_job


@dg.asset_sensor(
    asset_key=transactions_parquet.key,
    job=refresh_spice_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes SPICE after each new hourly Parquet; the runs of one burst of "
    "compactions coalesce.",
)
def compaction_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    yield dg.RunRequest(run_key=f"{asset_event.run_id}:{asset_event.timestamp}")
