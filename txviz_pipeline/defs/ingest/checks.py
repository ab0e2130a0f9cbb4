"""The blocking reconciliation check of every replay: sent = landed Ok + quarantined +
processing-failed + dropped."""

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from txviz_pipeline.defs.ingest.assets import firehose_replay
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline.landing.reconcile import dataset_row_ids, reconcile_replay

POLL_S = 5.0


def this_runs_replay(context: dg.AssetCheckExecutionContext) -> dg.EventLogEntry:
    """The firehose_replay materialization of the run this check runs in."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=firehose_replay.key), limit=50
    ).records
    for record in records:
        if record.run_id == context.run.run_id:
            return record.event_log_entry
    raise dg.Failure(
        f"run {context.run.run_id} has no firehose_replay materialization to reconcile"
    )


@dg.asset_check(
    asset=firehose_replay,
    blocking=True,
    description="Every row the replay sent landed Ok, was quarantined with a reason, failed "
    "processing or was dropped, dead letters re-sent included; rows that did not are named.",
)
def replay_reconciles(
    context: dg.AssetCheckExecutionContext, aws: AwsResource, guards: GuardsResource
) -> dg.AssetCheckResult:
    event = this_runs_replay(context)
    meta = event.asset_materialization.metadata
    replay_id = meta["replay_id"].value
    rows = meta["rows_total"].value
    # A part of a replay in parts reconciles its own rows: the parts together count each once.
    first = meta["first_row"].value if "first_row" in meta else 0
    expected = dataset_row_ids(Path(meta["dataset_dir"].value), rows)[first:]
    started_at = datetime.fromtimestamp(event.timestamp, UTC) - timedelta(
        seconds=meta["duration_s"].value + 60
    )
    if "started_at" in meta:  # a resumed replay or a resend: rows landed since the first run
        first_run = datetime.fromisoformat(meta["started_at"].value) - timedelta(seconds=60)
        started_at = min(started_at, first_run)
    settings = aws.settings()
    s3 = aws.client("s3")
    deadline = time.monotonic() + guards.reconcile_wait().total_seconds()
    while True:
        result = reconcile_replay(
            s3,
            settings.bucket,
            replay_id=replay_id,
            expected_row_ids=expected,
            started_at=started_at,
            now=datetime.now(UTC),
        )
        if result.reconciles or time.monotonic() > deadline:
            break
        context.log.info("waiting for Firehose: %s", result.describe())
        time.sleep(min(POLL_S, max(deadline - time.monotonic(), 0.0)))
    return dg.AssetCheckResult(
        passed=result.reconciles,
        severity=dg.AssetCheckSeverity.ERROR,
        description=result.describe(),
        metadata={
            "rows": result.rows,
            "sent": result.sent,
            "landed_ok": result.landed_ok,
            "quarantined": result.quarantined,
            "processing_failed": result.processing_failed,
            "dropped": result.dropped,
            "dead_lettered": result.dead_lettered,
            "resent": result.resent,
            "duplicates": result.duplicates,
            "missing": len(result.missing),
            "missing_row_ids": ", ".join(map(str, result.missing[:20])) or "none",
            "failure_reasons": result.failure_reasons,
        },
    )
