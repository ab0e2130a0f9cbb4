"""The NDJSON handoff through S3 (moto server over HTTP): staged by the machine that converted
it, found by a machine that has never seen it, and replaced cleanly by a new conversion."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.staging import local_copy, stage, staged_prefix
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline_tests.ingest.replay.data import dataset_lines, write_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_state(moto_settings):
    """Settings that keep shared state in S3 (as on AWS), against the moto server's bucket."""
    settings = replace(moto_settings, state_store="s3")
    s3 = aws.client("s3", settings)
    s3.create_bucket(Bucket=settings.bucket)
    return settings, s3


def test_a_staged_dataset_is_found_on_a_machine_that_never_converted_it(tmp_path, s3_state):
    settings, s3 = s3_state
    converted = write_dataset(settings.ndjson_dir / "day", 1_000, parts=3)
    lines = dataset_lines(converted)
    assert stage(s3, settings.bucket, converted) == f"s3://{settings.bucket}/staging/ndjson/day/"
    keys = set(iter_keys(s3, settings.bucket, staged_prefix("day")))
    assert keys == {f"staging/ndjson/day/{n}" for n in ["manifest.json"] + parts(converted)}

    shutil.rmtree(settings.home)  # the second machine has an empty disk of its own
    second = replace(settings, home=tmp_path / "second-home")
    copy = local_copy(str(converted), second, s3)
    assert copy == second.ndjson_dir / "day"
    assert dataset_lines(copy) == lines
    assert {p.stat().st_mode & 0o777 for p in copy.iterdir()} == {0o600}
    assert not list(copy.glob(".*.tmp"))


def test_the_converting_machine_uses_its_own_copy(s3_state, monkeypatch):
    settings, s3 = s3_state
    converted = write_dataset(settings.ndjson_dir / "day", 50)
    stage(s3, settings.bucket, converted)
    monkeypatch.setattr(s3, "download_file", fail_download)
    assert local_copy(str(converted), settings, s3) == converted


def test_a_local_copy_of_another_conversion_is_replaced(s3_state):
    settings, s3 = s3_state
    staged = write_dataset(settings.ndjson_dir / "day", 300, parts=2)
    lines = dataset_lines(staged)
    stage(s3, settings.bucket, staged)
    # This machine holds an older conversion of the same name: same part names and sizes.
    write_dataset(staged, 300, parts=2, first_row_id=10_000)
    assert dataset_lines(local_copy(str(staged), settings, s3)) == lines


def test_a_new_conversion_removes_the_parts_it_no_longer_has(s3_state):
    settings, s3 = s3_state
    stage(s3, settings.bucket, write_dataset(settings.ndjson_dir / "day", 300, parts=3))
    shutil.rmtree(settings.ndjson_dir / "day")
    stage(s3, settings.bucket, write_dataset(settings.ndjson_dir / "day", 100, parts=1))
    keys = sorted(iter_keys(s3, settings.bucket, staged_prefix("day")))
    assert keys == ["staging/ndjson/day/manifest.json", "staging/ndjson/day/part-00000.ndjson"]


def test_a_dataset_never_staged_is_read_where_it_was_converted_or_is_a_clear_error(s3_state):
    settings, s3 = s3_state
    # txviz replay converts and replays on one machine without staging.
    here = write_dataset(settings.ndjson_dir / "here", 10)
    assert local_copy(str(here), settings, s3) == here
    with pytest.raises(ReplayError, match=r"'gone' is not staged at s3://.*/staging/ndjson/gone/"):
        local_copy(str(settings.ndjson_dir / "gone"), settings, s3)


def test_locally_kept_state_reads_the_folder_and_never_s3(tmp_path, moto_settings):
    settings = replace(moto_settings, state_store="local")
    folder = write_dataset(tmp_path / "ds", 10)
    assert local_copy(str(folder), settings, None) == folder


def parts(dataset) -> list[str]:
    return [p["name"] for p in json.loads((dataset / "manifest.json").read_text())["parts"]]


def fail_download(*args, **kwargs):
    raise AssertionError("the converting machine downloaded its own dataset")
