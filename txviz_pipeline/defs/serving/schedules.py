"""SPICE on a fixed cadence: the refresh schedule on AWS and the backstop locally."""

import dagster as dg

from txviz_pipeline.defs.serving.jobs import refresh_spice_job

# QuickSight allows incremental refreshes every 15 minutes and caps manual ones (32 a day on
# Enterprise), so the cadence on AWS is the schedule; the local SPICE also follows compaction
# (compaction_sensor in defs/serving/sensors.py).
quarter_hourly_spice_schedule = dg.ScheduleDefinition(
    name="quarter_hourly_spice_schedule",
    job=refresh_spice_job,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh SPICE every 15 minutes.",
)
