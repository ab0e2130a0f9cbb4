"""The local SPICE's backstop cadence; on AWS, SPICE follows compaction alone.

QuickSight caps ingestions at 32 a day (8 on Standard), so on AWS the one thing that starts
refreshes is compaction_sensor (coalesced, defs/serving/sensors.py) and each refresh passes the
budget guard (serving/spice_budget.py); this schedule skips there. Locally it refreshes the
DuckDB SPICE every 15 minutes besides the sensor's refreshes.
"""

import dagster as dg

from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.jobs import refresh_spice_job


@dg.schedule(
    name="quarter_hourly_spice_schedule",
    job=refresh_spice_job,
    cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Refresh the local SPICE every 15 minutes (skips on AWS, where SPICE follows "
    "compaction within the daily ingestion budget).",
)
def quarter_hourly_spice_schedule(context: dg.ScheduleEvaluationContext, aws: AwsResource):
    if not aws.settings().embedded:
        return dg.SkipReason(
            "on AWS SPICE refreshes follow compaction (compaction_sensor), at most one per "
            "TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES and within "
            "TXVIZ_SPICE_DAILY_INGESTION_BUDGET"
        )
    return dg.RunRequest()
