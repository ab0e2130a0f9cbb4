"""The job users launch from the launchpad to replay a CSV into Firehose."""

import dagster as dg

from txviz_pipeline.defs.ingest.assets import firehose_replay, transactions_ndjson

replay_transactions_job = dg.define_asset_job(
    "replay_transactions_job",
    selection=[transactions_ndjson, firehose_replay],
    executor_def=dg.in_process_executor,
    description="Convert a Sparkov CSV and replay it into Firehose.",
)
