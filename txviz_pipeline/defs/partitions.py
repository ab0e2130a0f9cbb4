"""Hourly partitions keyed exactly like Firehose's ``YYYY/MM/DD/HH`` arrival-hour prefixes."""

from datetime import datetime

import dagster as dg

from txviz_pipeline.settings import PARTITION_FMT

# end_offset=1 makes the hour in progress a valid partition: objects land in it right now.
landing_hours = dg.HourlyPartitionsDefinition(
    start_date=datetime(2026, 1, 1), fmt=PARTITION_FMT, end_offset=1
)
