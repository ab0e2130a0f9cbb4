"""The job that checks an hour of the landing zone and compacts it."""

import dagster as dg

from txviz_pipeline.defs.landing.assets import landing_transactions
from txviz_pipeline.defs.landing.checks import landing_fresh_during_replay
from txviz_pipeline.defs.runs import RETRIED

process_landing_job = dg.define_asset_job(
    "process_landing_job",
    # The hour, its checks, and what builds directly on the hour (its Parquet, in
    # defs/compaction): selected downstream so that this stage names nothing of a later one.
    # The freshness check is evaluated by its sensor, not per landing run.
    selection=dg.AssetSelection.assets(landing_transactions).downstream(depth=1)
    - dg.AssetSelection.checks(landing_fresh_during_replay),
    # Steps run in the run's own process: a subprocess per step costs seconds of start-up,
    # which is most of the latency from landing to dashboard.
    executor_def=dg.in_process_executor,
    description="Check an hour of the landing zone and compact it to Parquet.",
    # The instance runs one run per dagster/partition tag value at a time (the
    # tag_concurrency_limits in the dagster.yaml that `txviz` writes), so an older run can never
    # overwrite the Parquet that a newer run of the same hour wrote.
    tags={**RETRIED, "txviz/stage": "landing"},
)
