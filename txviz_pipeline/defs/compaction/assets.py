"""Hourly Parquet compaction of the landing zone into curated/."""

import dagster as dg
from pydantic import Field

from txviz_pipeline.defs.landing.assets import landing_transactions
from txviz_pipeline.defs.partitions import landing_hours
from txviz_pipeline.defs.resources import AwsResource


class CompactionConfig(dg.Config):
    rebuild: bool = Field(
        default=False,
        description="Forget what was merged and compact the whole hour again from landing "
        "(each landing object is otherwise read once, by the first run that sees it).",
    )


@dg.asset(
    deps=[landing_transactions],
    partitions_def=landing_hours,
    group_name="compaction",
    kinds={"parquet", "s3"},
)
def transactions_parquet(
    context: dg.AssetExecutionContext, config: CompactionConfig, aws: AwsResource
):
    """De-duplicated Parquet parts per arrival hour under curated/transactions/, each landing
    object merged once."""
    from txviz_pipeline.compaction import compact_partition

    result = compact_partition(aws.settings(), context.partition_key, rebuild=config.rebuild)
    run, hour = result.run, result.hour
    return dg.MaterializeResult(
        metadata={
            "objects": run.objects,
            "lines": run.lines,
            "rows": run.rows,
            "bad_lines": run.bad_lines,
            "duplicates_removed": run.duplicates_removed,
            "key": str(result.key),
            "hour_objects": hour.objects,
            "hour_lines": hour.lines,
            "hour_rows": hour.rows,
            "hour_bad_lines": hour.bad_lines,
            "hour_duplicates_removed": hour.duplicates_removed,
            "parts": result.parts,
            "orphans_removed": result.orphans_removed,
        }
    )
