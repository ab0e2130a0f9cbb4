"""SPICE and the dashboards: QuickSight on AWS, DuckDB and the local dashboard when embedded."""

import dagster as dg

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.settings import QUICKSIGHT_DATASET_ID


@dg.asset(deps=[transactions_parquet], group_name="serving", kinds={"duckdb", "quicksight"})
def spice_dataset(context: dg.AssetExecutionContext, aws: AwsResource) -> dg.MaterializeResult:
    """The dashboards' SPICE dataset, refreshed from the curated Parquet."""
    settings = aws.settings()
    if settings.embedded:
        from txviz_pipeline.serving.spice import refresh_local_spice

        local = refresh_local_spice(settings)
        return dg.MaterializeResult(
            metadata={
                "engine": "duckdb (local SPICE)",
                "rows": local.rows,
                "fraud_rows": local.fraud_rows,
                "amount_total": float(local.amount_total),
                "files": local.files,
                "files_read": local.files_read,
                "extended": local.extended,
                "path": dg.MetadataValue.path(str(local.path)),
                "duration_s": round(local.duration_s, 3),
            }
        )
    from datetime import UTC, datetime

    from txviz_pipeline.serving.spice_budget import BudgetDecision, guarded_refresh

    account_id = aws.client("sts").get_caller_identity()["Account"]
    budget = settings.spice_daily_ingestion_budget
    result = guarded_refresh(
        aws.client("quicksight"), account_id, QUICKSIGHT_DATASET_ID, budget, datetime.now(UTC)
    )
    if isinstance(result, BudgetDecision):
        # Not a failure: SPICE keeps its data and the next compaction asks again.
        context.log.warning("SPICE refresh %s", result.reason)
        return dg.MaterializeResult(
            metadata={
                "engine": "quicksight",
                "status": "skipped",
                "reason": result.reason,
                "ingestions_24h": result.used,
                "budget": result.budget,
            }
        )
    context.log.info("QuickSight ingestion %s: %s", result.ingestion_id, result.status)
    return dg.MaterializeResult(
        metadata={
            "engine": "quicksight",
            "ingestion_id": result.ingestion_id,
            "status": result.status,
            "rows": result.rows_ingested or 0,
            "rows_dropped": result.rows_dropped or 0,
            "duration_s": round(result.duration_s, 3),
        }
    )


live_dashboard = dg.AssetSpec(
    "live_dashboard",
    deps=[spice_dataset],
    description="Spending and fraud dashboard: QuickSight on AWS, `txviz dashboard` locally.",
    group_name="serving",
    kinds={"streamlit"},
)
