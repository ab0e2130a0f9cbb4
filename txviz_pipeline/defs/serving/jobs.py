"""The job that refreshes SPICE, started by the compaction sensor and the schedule."""

import dagster as dg

from txviz_pipeline.defs.runs import RETRIED
from txviz_pipeline.defs.serving.assets import spice_dataset

refresh_spice_job = dg.define_asset_job(
    "refresh_spice_job",
    selection=[spice_dataset],
    executor_def=dg.in_process_executor,
    description="Refresh the SPICE dataset from the curated Parquet.",
    tags={**RETRIED, "txviz/stage": "spice"},
)
