"""When SPICE refreshes: soon after every compaction, and on a fixed cadence as a backstop."""

import dagster as dg

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.serving.assets import refresh_spice_job

# QuickSight allows incremental refreshes every 15 minutes and caps manual ones (32 a day on
# Enterprise), so the cadence on AWS is the schedule; the local SPICE also follows compaction.
quarter_hourly_spice_schedule = dg.ScheduleDefinition(
    name="quarter_hourly_spice_schedule",
    job=refresh_spice_job,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh SPICE every 15 minutes.",
)


@dg.asset_sensor(
    asset_key=transactions_parquet.key,
    job=refresh_spice_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def compaction_sensor(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry):
    """Refresh SPICE after each new hourly Parquet; runs for one burst of compactions coalesce."""
    yield dg.RunRequest(run_key=f"{asset_event.run_id}:{asset_event.timestamp}")
