"""The learned fraud score end to end: transactions replayed on the embedded stack train a
model in Dagster, its check lets it through, it is published, and the processor's next
records are scored by it, with reasons, on their landing lines."""

from __future__ import annotations

import csv
import json
import time

import lightgbm as lgb
import numpy as np
import pytest

from txviz_pipeline import aws, orchestrator
from txviz_pipeline.fraud import registry
from txviz_pipeline.fraud.export import model_document
from txviz_pipeline.fraud.processor_modules import cardhistory
from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import LANDING_PREFIX, MODEL_CURRENT_KEY
from txviz_pipeline_tests.support.e2e import (
    DEADLINE_S,
    latest_check,
    running_pipeline,
    wait_for_run,
    wait_for_spice_rows,
)

pytestmark = pytest.mark.e2e

TRAIN_ROWS = 24_000
LATER_ROWS = 1_500


@pytest.fixture
def pipeline_reading_models_at_once(tmp_path_factory, monkeypatch):
    """The pipeline, with a processor that reads the model pointer on every invocation."""
    monkeypatch.setenv("TXVIZ_MODEL_REFRESH_SECONDS", "0")
    yield from running_pipeline(tmp_path_factory)


def _split_csv(settings, tmp_rows: int) -> tuple[str, str]:
    """A generated CSV in TXVIZ_HOME, split into the rows to train on and later rows."""
    home = settings.home
    whole = home / "whole.csv"
    generate_csv(whole, rows=tmp_rows, seed=9)
    with whole.open(newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    paths = []
    for name, part in (("train.csv", body[:TRAIN_ROWS]), ("later.csv", body[TRAIN_ROWS:])):
        path = home / name
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            writer.writerows(part)
        paths.append(str(path))
    return paths[0], paths[1]


def _weak_model() -> dict:
    """A published model that knows nothing (one leaf): the candidate must beat it."""
    features = cardhistory().FEATURES
    rng = np.random.default_rng(0)
    X = rng.random((400, len(features)))
    y = (rng.random(400) < 0.5).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 2, "min_child_samples": 1000, "verbose": -1},
        lgb.Dataset(X, y, feature_name=list(features), categorical_feature=["category"]),
        num_boost_round=1,
    )
    return model_document(booster, version="weak-0", threshold=0.5, metadata={})


def _landed_with(s3, bucket: str, version: str) -> list[dict]:
    out = []
    for key in iter_keys(s3, bucket, LANDING_PREFIX):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        out += [r for r in map(json.loads, body.splitlines()) if r["model_version"] == version]
    return out


def test_a_published_model_scores_the_next_replay(pipeline_reading_models_at_once):
    settings, port, _ = pipeline_reading_models_at_once
    deadline = time.monotonic() + DEADLINE_S + 300
    train_csv, later_csv = _split_csv(settings, TRAIN_ROWS + LATER_ROWS)
    s3 = aws.client("s3", settings)
    weak = _weak_model()
    registry.put_version(s3, settings.bucket, weak)
    registry.publish(s3, settings.bucket, weak["version"])

    run_id = orchestrator.launch_replay(port, train_csv, {"processes": 2})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"
    assert wait_for_spice_rows(settings, port, TRAIN_ROWS, deadline) == TRAIN_ROWS
    assert _landed_with(s3, settings.bucket, "weak-0"), "the processor did not read the pointer"

    client = orchestrator.graphql_client(port)
    run_id = client.submit_job_execution(
        "train_fraud_model_job", repository_location_name=orchestrator.LOCATION_NAME
    )
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"
    check = latest_check(
        orchestrator.dagster_home(settings), "fraud_model", "not_worse_than_current"
    )
    assert check.passed, check.description
    pointer = json.loads(
        s3.get_object(Bucket=settings.bucket, Key=MODEL_CURRENT_KEY)["Body"].read()
    )
    version = pointer["version"]
    assert version not in {"weak-0"} and pointer["key"].endswith(f"/{version}.json")

    run_id = orchestrator.launch_replay(port, later_csv, {"processes": 2})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"
    landed: list[dict] = []
    while time.monotonic() < deadline and len(landed) < LATER_ROWS:
        landed = _landed_with(s3, settings.bucket, version)
        time.sleep(2)
    assert len(landed) == LATER_ROWS
    flagged = [r for r in landed if r["fraud_flagged"]]
    threshold = registry.get_version(s3, settings.bucket, version)["threshold"]
    assert flagged, "the new model flagged nothing in 1,500 transactions with fraud in them"
    assert all(r["fraud_score"] >= threshold for r in flagged)
    assert all(r["fraud_score"] < threshold for r in landed if not r["fraud_flagged"])
    assert all(1 <= len(r["fraud_reasons"]) <= 3 for r in flagged)
    assert all(isinstance(x, str) and x for r in flagged for x in r["fraud_reasons"])
    assert sum(r["is_fraud"] for r in flagged) > len(flagged) / 2
