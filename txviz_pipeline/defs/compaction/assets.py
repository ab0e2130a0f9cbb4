"""Hourly Parquet compaction of the landing zone into curated/."""

import dagster as dg

from txviz_pipeline.defs.landing.assets import LANDING_FRESH_DURING_REPLAY, landing_transactions
from txviz_pipeline.defs.partitions import landing_hours
from txviz_pipeline.defs.resources import AwsResource


@dg.asset(
    deps=[landing_transactions],
    partitions_def=landing_hours,
    group_name="compaction",
    kinds={"parquet", "s3"},
)
def transactions_parquet(context: dg.AssetExecutionContext, aws: AwsResource):
    """One deduplicated Parquet file per arrival hour under curated/transactions/."""
    from txviz_pipeline.compaction.compact import compact_partition

    result = compact_partition(aws.settings(), context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "objects": result.objects,
            "lines": result.lines,
            "rows": result.rows_written,
            "bad_lines": result.bad_lines,
            "duplicates_removed": result.duplicates_removed,
            "key": str(result.key),
        }
    )


process_landing_job = dg.define_asset_job(
    "process_landing_job",
    # The freshness check is evaluated by its sensor, not per landing run.
    selection=dg.AssetSelection.assets(landing_transactions, transactions_parquet)
    - dg.AssetSelection.checks(
        dg.AssetCheckKey(landing_transactions.key, LANDING_FRESH_DURING_REPLAY)
    ),
    # Steps run in the run's own process: a subprocess per step costs seconds of start-up,
    # which is most of the latency from landing to dashboard.
    executor_def=dg.in_process_executor,
    description="Check an hour of the landing zone and compact it to Parquet.",
    # The instance runs one run per dagster/partition tag value at a time (the
    # tag_concurrency_limits in the dagster.yaml that `txviz` writes), so an older run can never
    # overwrite the Parquet that a newer run of the same hour wrote.
    tags={"txviz/stage": "landing"},
)
