"""fraud_model trains on the curated Parquet, its blocking check compares it with the current
model on the same validation window, and only a model that passes is published."""

from __future__ import annotations

import io
import json

import dagster as dg
import lightgbm as lgb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.fraud.assets import CHECK_NAME, fraud_model, published_fraud_model
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.fraud import dataset, registry, train
from txviz_pipeline.fraud.export import model_document
from txviz_pipeline.fraud.processor_modules import cardhistory
from txviz_pipeline.settings import CURATED_PREFIX, MODEL_CURRENT_KEY

pytestmark = pytest.mark.integration


@pytest.fixture
def curated(moto_settings, generated_csv):
    """The generated transactions as two curated Parquet files (the columns training reads)."""
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    frame = dataset.read_csv(generated_csv)
    half = len(frame) // 2
    for hour, part in (("2019-01-01-00", frame[:half]), ("2019-01-01-01", frame[half:])):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), buf)
        key = f"{CURATED_PREFIX}arrival_hour={hour}/part-0.parquet"
        s3.put_object(Bucket=moto_settings.bucket, Key=key, Body=buf.getvalue())
    return s3, frame


def _publish(s3, bucket: str, document: dict) -> None:
    registry.put_version(s3, bucket, document)
    registry.publish(s3, bucket, document["version"])


def _pointer(s3, bucket: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=MODEL_CURRENT_KEY)["Body"].read())


def _materialize() -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [fraud_model, published_fraud_model],
        resources={"aws": AwsResource()},
        raise_on_error=False,
    )


def _booster(X, y, rounds: int, leaves: int, min_leaf: int) -> lgb.Booster:
    return lgb.train(
        {
            "objective": "binary",
            "learning_rate": 0.1,
            "num_leaves": leaves,
            "min_child_samples": min_leaf,
            "verbose": -1,
        },
        lgb.Dataset(
            X, y, feature_name=list(cardhistory().FEATURES), categorical_feature=["category"]
        ),
        num_boost_round=rounds,
    )


def test_a_better_model_is_published_with_its_evaluation(moto_settings, curated, training_data):
    s3, _ = curated
    weak = _booster(training_data.X, training_data.y, rounds=1, leaves=2, min_leaf=10**6)
    _publish(
        s3, moto_settings.bucket, model_document(weak, version="weak", threshold=0.5, metadata={})
    )

    result = _materialize()
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == CHECK_NAME and evaluation.passed, evaluation.description
    (trained,) = result.asset_materializations_for_node("fraud_model")
    meta = {k: v.value for k, v in trained.metadata.items()}
    assert meta["current_version"] == "weak"
    assert meta["pr_auc"] > meta["current_pr_auc"]
    assert meta["roc_auc"] > 0.95 and 0 < meta["threshold"] < 1
    assert meta["precision"] >= train.PRECISION_TARGET and meta["recall"] > 0.5
    assert meta["training_rows"] + meta["validation_rows"] == len(training_data)
    assert "| **fraud** |" in meta["confusion_matrix"]
    assert "| amount_last_day |" in meta["feature_importance"]
    assert meta["pr_curve"].startswith("![precision-recall curve](data:image/png;base64,")
    assert " to " in meta["train_window"] and " to " in meta["validation_window"]

    pointer = _pointer(s3, moto_settings.bucket)
    assert pointer["version"] == meta["version"]
    stored = registry.get_version(s3, moto_settings.bucket, meta["version"])
    assert stored["threshold"] == pytest.approx(meta["threshold"], abs=1e-6)


def test_a_worse_model_is_stored_but_not_published(moto_settings, curated, training_data):
    s3, _ = curated
    # A model that has seen the validation window's labels: no honest candidate beats it there.
    leaked = _booster(training_data.X, training_data.y, rounds=200, leaves=31, min_leaf=20)
    doc = model_document(leaked, version="leaked", threshold=0.5, metadata={})
    _publish(s3, moto_settings.bucket, doc)

    result = _materialize()
    (evaluation,) = result.get_asset_check_evaluations()
    assert not evaluation.passed
    assert evaluation.description.startswith("not published: PR-AUC")
    assert not result.asset_materializations_for_node("published_fraud_model")
    assert _pointer(s3, moto_settings.bucket)["version"] == "leaked"
    (trained,) = result.asset_materializations_for_node("fraud_model")
    candidate = trained.metadata["version"].value
    assert registry.get_version(s3, moto_settings.bucket, candidate)["version"] == candidate


def test_without_a_published_model_the_candidate_faces_the_bundled_one(moto_settings, curated):
    result = _materialize()
    (trained,) = result.asset_materializations_for_node("fraud_model")
    assert trained.metadata["current_source"].value == "lambda/fraud_model.json"
    assert trained.metadata["current_version"].value == registry.bundled_document()["version"]


def test_too_little_data_fails_with_a_clear_reason(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    result = _materialize()
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "cannot train the fraud model" in str(failure.event_specific_data.error)
