"""Checkpoints: what a store keeps, where, and what it refuses."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.checkpoint import (
    Checkpoint,
    LocalCheckpointStore,
    S3CheckpointStore,
    checkpoint_store,
    validate_replay_id,
)


def checkpoint(**changes) -> Checkpoint:
    cp = Checkpoint("r-1", "/data/ds", 1_000, next_row=400, sent=390, failed=10, batches=4)
    for key, value in changes.items():
        setattr(cp, key, value)
    return cp


def test_local_store_round_trips_and_leaves_no_temporary_file(tmp_path):
    folder = tmp_path / "home" / "checkpoints"  # a fresh home: neither folder exists yet
    store = LocalCheckpointStore(folder)
    assert store.load("r-1") is None
    store.save(checkpoint())
    store.save(checkpoint(next_row=500))
    assert store.load("r-1") == checkpoint(next_row=500)
    assert [p.name for p in folder.iterdir()] == ["r-1.json"]
    assert store.describe("r-1") == str(folder / "r-1.json")


def test_a_checkpoint_is_written_beside_its_target_then_renamed(tmp_path, monkeypatch):
    """Renamed within one folder (one file system), so a kill never leaves half a file."""
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    LocalCheckpointStore(tmp_path).save(checkpoint())
    ((src, dst),) = renames
    assert dst == tmp_path / "r-1.json" and src.parent == tmp_path
    assert src.name.startswith(".r-1.json.") and src.suffix == ".tmp"  # hidden while written


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary(tmp_path, monkeypatch):
    store = LocalCheckpointStore(tmp_path)
    store.save(checkpoint())

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        store.save(checkpoint(next_row=900))
    assert store.load("r-1") == checkpoint()
    assert [p.name for p in tmp_path.iterdir()] == ["r-1.json"]


def test_a_checkpoint_of_another_version_is_refused(tmp_path):
    data = json.loads(checkpoint().to_json())
    assert data["version"] == 1
    data["version"] = 2
    with pytest.raises(ValueError, match="unsupported checkpoint version 2"):
        Checkpoint.from_json(json.dumps(data))
    del data["version"]
    with pytest.raises(ValueError, match="unsupported checkpoint version None"):
        Checkpoint.from_json(json.dumps(data))


def test_fields_a_newer_writer_added_are_ignored():
    data = {**json.loads(checkpoint().to_json()), "shard": 3}
    assert Checkpoint.from_json(json.dumps(data)) == checkpoint()


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-lead", "x" * 129, "a b"])
def test_replay_ids_that_are_not_safe_names_are_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="invalid replay id"):
        validate_replay_id(bad)
    with pytest.raises(ValueError, match="invalid replay id"):
        LocalCheckpointStore(tmp_path).save(checkpoint(replay_id=bad))


@pytest.mark.parametrize("good", ["a", "7", "run.2026-12-02_x", "x" * 128])
def test_safe_replay_ids_are_kept(good):
    assert validate_replay_id(good) == good


def test_the_store_is_chosen_by_name(tmp_path):
    settings = type("S", (), {"checkpoint_dir": tmp_path, "bucket": "b"})()
    local = checkpoint_store("local", settings, None)
    assert isinstance(local, LocalCheckpointStore) and local.directory == tmp_path
    s3 = checkpoint_store("s3", settings, "client")
    assert isinstance(s3, S3CheckpointStore) and (s3.s3, s3.bucket) == ("client", "b")
    with pytest.raises(ValueError, match="unknown checkpoint store 'redis'"):
        checkpoint_store("redis", settings, None)


@pytest.mark.integration
def test_s3_store_round_trips_under_replays(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    store = S3CheckpointStore(s3, moto_settings.bucket)
    assert store.load("r-1") is None
    store.save(checkpoint())
    assert store.load("r-1") == checkpoint()
    key = "replays/r-1/checkpoint.json"
    assert store.describe("r-1") == f"s3://{moto_settings.bucket}/{key}"
    assert json.loads(s3.get_object(Bucket=moto_settings.bucket, Key=key)["Body"].read()) == (
        json.loads(checkpoint().to_json())
    )
