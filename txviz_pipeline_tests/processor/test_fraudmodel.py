"""Which model the processor scores with: the bundled one until S3 names another, re-read at
most every refresh interval, and a failed read never stops scoring."""

from __future__ import annotations

import json
import logging

import fraudmodel
import pytest

from txviz_pipeline import settings
from txviz_pipeline_tests.fraud.documents import small_document

BUNDLED = json.loads(fraudmodel.BUNDLED_MODEL.read_text())


class FakeS3:
    """Objects by key; counts reads; raises what it is told to for a key."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.failures: dict[str, Exception] = {}
        self.reads: list[str] = []

    def read(self, bucket: str, key: str) -> bytes:
        assert bucket == "models-bucket"
        self.reads.append(key)
        if key in self.failures:
            raise self.failures[key]
        if key not in self.objects:
            raise FileNotFoundError(key)
        return self.objects[key]

    def publish(self, version: str, document: dict | None = None) -> None:
        key = f"models/fraud/versions/{version}.json"
        self.objects[key] = json.dumps(
            document or {**small_document(), "version": version}
        ).encode()
        self.objects[fraudmodel.CURRENT_KEY] = json.dumps({"version": version, "key": key}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3() -> FakeS3:
    return FakeS3()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def source(
    s3: FakeS3, clock: Clock, bucket: str | None = "models-bucket"
) -> fraudmodel.ModelSource:
    return fraudmodel.ModelSource(bucket, read=s3.read, refresh_seconds=60, clock=clock)


def test_without_a_bucket_the_bundled_model_scores(s3, clock):
    models = source(s3, clock, bucket=None)
    assert models.model().version == BUNDLED["version"]
    assert BUNDLED["version"].startswith("default-")
    assert s3.reads == []


def test_before_any_publish_the_bundled_model_scores(s3, clock):
    assert source(s3, clock).model().version == BUNDLED["version"]
    assert s3.reads == [fraudmodel.CURRENT_KEY]


def test_the_published_model_is_loaded_and_the_pointer_read_once_a_minute(s3, clock):
    s3.publish("v1")
    models = source(s3, clock)
    assert models.model().version == "v1"
    assert models.model().version == "v1"
    assert s3.reads == [fraudmodel.CURRENT_KEY, "models/fraud/versions/v1.json"]

    s3.publish("v2")
    clock.now += 59
    assert models.model().version == "v1"  # not yet a minute
    clock.now += 1
    assert models.model().version == "v2"
    clock.now += 60
    models.model()  # the same version: only the pointer is read
    assert s3.reads[-2:] == ["models/fraud/versions/v2.json", fraudmodel.CURRENT_KEY]


def test_failed_reads_keep_the_model_and_are_logged(s3, clock, caplog):
    s3.publish("v1")
    models = source(s3, clock)
    assert models.model().version == "v1"
    caplog.set_level(logging.WARNING, logger="txviz.processor")

    s3.failures[fraudmodel.CURRENT_KEY] = ConnectionError("endpoint unreachable")
    clock.now += 60
    assert models.model().version == "v1"
    del s3.failures[fraudmodel.CURRENT_KEY]

    s3.publish("v2", {"format": "something else", "version": "v2"})  # not a model
    clock.now += 60
    assert models.model().version == "v1"
    events = [json.loads(r.getMessage()) for r in caplog.records]
    assert [e["event"] for e in events] == ["model_read_failed", "model_read_failed"]
    assert events[0]["error"] == "ConnectionError: endpoint unreachable"
    assert events[1]["location"] == "s3://models-bucket/models/fraud/versions/v2.json"
    assert events[1]["error"].startswith("ValueError")


def test_from_env(monkeypatch, tmp_path):
    local = tmp_path / "model.json"
    local.write_text(json.dumps({**small_document(), "version": "local-1"}))
    monkeypatch.setenv("TXVIZ_MODEL_FILE", str(local))
    monkeypatch.setenv("TXVIZ_MODEL_REFRESH_SECONDS", "5")
    monkeypatch.delenv(fraudmodel.MODEL_BUCKET_ENV, raising=False)
    models = fraudmodel.from_env()
    assert models.bucket is None and models.model().version == "local-1"
    assert models._refresh == 5.0


def test_the_lambda_reads_where_the_pipeline_publishes():
    assert fraudmodel.CURRENT_KEY == settings.MODEL_CURRENT_KEY
    assert fraudmodel.MODEL_BUCKET_ENV == settings.MODEL_BUCKET_ENV
