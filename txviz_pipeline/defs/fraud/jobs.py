"""Retraining the fraud model: the job, and a nightly schedule a user switches on in the UI."""

import dagster as dg

from txviz_pipeline.defs.fraud.assets import fraud_model, published_fraud_model

train_fraud_model_job = dg.define_asset_job(
    "train_fraud_model_job",
    selection=[fraud_model, published_fraud_model],
    executor_def=dg.in_process_executor,
    description="Train a fraud model on the curated transactions; publish it if it is no worse "
    "than the current one on the same validation window.",
    tags={"txviz/stage": "fraud_model"},
)

# Off by default: a model needs days of curated transactions with fraud in them, which a fresh
# pipeline does not have; the processor scores with the bundled model until one is published.
nightly_fraud_model_schedule = dg.ScheduleDefinition(
    name="nightly_fraud_model_schedule",
    job=train_fraud_model_job,
    cron_schedule="30 3 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Retrain the fraud model at 03:30 and publish it if it passes its check.",
)
