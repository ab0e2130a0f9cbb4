"""Hourly Parquet compaction of the landing zone into curated/."""

import dagster as dg

from txviz_pipeline.defs.landing.assets import landing_transactions
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
