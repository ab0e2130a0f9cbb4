"""Whole replays into a moto server: rows limit, manifest, S3 checkpoints, failures."""

from __future__ import annotations

import json

import pytest

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.api import ReplayError, ReplayOptions, replay
from txviz_pipeline.ingest.replay.plan import MAX_RECORD_BYTES, RECORD_TOO_LARGE
from txviz_pipeline.redact import redacted
from txviz_pipeline.settings import REPLAY_FAILED_PREFIX
from txviz_pipeline_tests.ingest.replay import fakes
from txviz_pipeline_tests.ingest.replay.data import (
    START,
    create_stream,
    dataset_lines,
    landed_row_ids,
    record,
    write_dataset,
)


def read_json(settings, key: str) -> dict:
    body = aws.client("s3", settings).get_object(Bucket=settings.bucket, Key=key)["Body"]
    return json.loads(body.read())


@pytest.mark.integration
def test_rows_limit_sends_only_the_first_rows(tmp_path, moto_settings):
    create_stream(moto_settings)
    path = write_dataset(tmp_path / "ds", 2_500, parts=3)
    progress = []
    result = replay(
        path,
        moto_settings,
        ReplayOptions(rows=1_100, processes=2, replay_id="first-rows"),
        on_progress=progress.append,
    )
    landed = landed_row_ids(moto_settings)
    assert sorted(landed) == list(range(1_100)) and set(landed.values()) == {1}
    assert (result.rows, result.sent, result.failed, result.batches) == (1_100, 1_100, 0, 3)
    tag = len(b',"replay_id":"first-rows"')
    assert result.bytes == sum(len(line) + tag for line in dataset_lines(path)[:1_100])
    assert progress[-1].rows_done == progress[-1].rows_total == 1_100
    manifest = read_json(moto_settings, "replays/first-rows/manifest.json")
    assert manifest["rows_requested"] == 1_100 and manifest["rows"] == 1_100
    assert (manifest["first_row_id"], manifest["last_row_id"]) == (0, 1_099)
    assert manifest["complete"] and manifest["sent"] == 1_100
    checkpoint = json.loads((moto_settings.checkpoint_dir / "first-rows.json").read_text())
    assert checkpoint["next_row"] == 1_100 and checkpoint["complete"]


@pytest.mark.integration
def test_s3_checkpoint_resumes_where_the_last_run_stopped(tmp_path, moto_settings):
    create_stream(moto_settings)
    path = write_dataset(tmp_path / "ds", 1_500, parts=2)
    opts = dict(processes=1, replay_id="on-s3", checkpoint_store="s3")
    first = replay(path, moto_settings, ReplayOptions(rows=600, **opts))
    assert first.resumed_from_row == 0 and first.rows == 600
    assert read_json(moto_settings, "replays/on-s3/checkpoint.json")["next_row"] == 600
    second = replay(path, moto_settings, ReplayOptions(**opts))
    assert second.resumed_from_row == 600 and second.rows == 900
    landed = landed_row_ids(moto_settings)
    assert sorted(landed) == list(range(1_500)) and set(landed.values()) == {1}
    assert not (moto_settings.checkpoint_dir / "on-s3.json").exists()
    manifest = read_json(moto_settings, "replays/on-s3/manifest.json")
    assert (manifest["first_row_id"], manifest["last_row_id"], manifest["runs"]) == (0, 1_499, 2)
    assert manifest["sent"] == 1_500
    third = replay(path, moto_settings, ReplayOptions(**opts))
    assert third.rows == 0 and third.resumed_from_row == 1_500


@pytest.mark.integration
def test_failures_are_retried_or_dead_lettered_and_counts_reconcile(tmp_path, moto_settings):
    create_stream(moto_settings)
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(1_200)]
    lines[700] = json.dumps(record(700, START, job="x" * MAX_RECORD_BYTES)).encode() + b"\n"
    path = write_dataset(tmp_path / "ds", 1_200, parts=2, lines=lines)
    result = replay(
        path,
        moto_settings,
        ReplayOptions(
            processes=2,
            replay_id="faulty",
            max_attempts=4,
            backoff_base_s=0.001,
        ),
        client_factory=fakes.faulty_firehose,
    )
    dead = {i for i in range(1_200) if fakes.is_dead(i)} | {700}
    flaky = {i for i in range(1_200) if fakes.is_flaky(i)} - dead
    landed = landed_row_ids(moto_settings)
    assert set(landed) == set(range(1_200)) - dead
    assert result.sent == 1_200 - len(dead) and result.failed == len(dead)
    assert result.rows == result.sent + result.failed == 1_200
    # Two whole-call errors per worker, one resend per flaky row, three per dead row.
    assert result.retried >= len(flaky) + 3 * (len(dead) - 1)
    assert result.dead_letter_key == f"{REPLAY_FAILED_PREFIX}faulty/"
    s3 = aws.client("s3", moto_settings)
    listed = s3.list_objects_v2(Bucket=moto_settings.bucket, Prefix=result.dead_letter_key)
    letters = []
    for obj in listed["Contents"]:
        body = s3.get_object(Bucket=moto_settings.bucket, Key=obj["Key"])["Body"].read()
        letters += [json.loads(line) for line in body.splitlines()]
    assert {d["row_id"] for d in letters} == dead
    too_large = next(d for d in letters if d["row_id"] == 700)
    assert too_large["error_code"] == RECORD_TOO_LARGE and too_large["attempts"] == 0
    assert too_large["permanent"] is True and too_large["replay_id"] == "faulty"
    extra = {"reason", "error_code", "attempts", "permanent"}
    for d in letters:
        # Redacted: what an operator needs to find and fix the row, no card or person.
        assert not {"cc_num", "first", "last", "street", "dob", "data"} & set(d)
        assert d["card_last4"] == record(0, START)["cc_num"][-4:]
        if d["row_id"] != 700:
            assert (d["error_code"], d["attempts"], d["permanent"]) == ("InternalFailure", 4, False)
            assert "not accepted after 4 attempts" in d["reason"]
            # The record as sent (tagged with its replay), through redact.redacted.
            sent = {**record(d["row_id"], START), "replay_id": "faulty"}
            assert {k: v for k, v in d.items() if k not in extra} == redacted(sent)
    manifest = read_json(moto_settings, "replays/faulty/manifest.json")
    assert manifest["sent"] + manifest["failed"] == 1_200
    # Every row handled, but not every row accepted: the replay is not complete.
    assert manifest["dead_lettered"] == len(dead) and manifest["permanent"] == 1
    assert not manifest["complete"] and not result.complete
    checkpoint = json.loads((moto_settings.checkpoint_dir / "faulty.json").read_text())
    assert checkpoint["next_row"] == 1_200 and not checkpoint["complete"]
    assert (checkpoint["dead_lettered"], checkpoint["permanent"]) == (len(dead), 1)
    assert checkpoint["dead_letter_prefix"] == f"{REPLAY_FAILED_PREFIX}faulty/"


@pytest.mark.integration
def test_compressed_replay_waits_between_batches_and_lands_every_row(tmp_path, moto_settings):
    """Events 6 s apart at speed 3: workers sit idle ~2 s between batches and must stay."""
    create_stream(moto_settings)
    path = write_dataset(tmp_path / "ds", 4, step_s=6.0)
    result = replay(
        path, moto_settings, ReplayOptions(processes=2, speed=3, replay_id="compressed")
    )
    assert (result.rows, result.batches, result.failed) == (4, 4, 0)
    assert sorted(landed_row_ids(moto_settings)) == [0, 1, 2, 3]
    manifest = read_json(moto_settings, "replays/compressed/manifest.json")
    assert manifest["speed"] == 3 and manifest["complete"]


@pytest.mark.integration
def test_missing_stream_fails_fast_with_a_clear_message(tmp_path, moto_settings):
    aws.client("s3", moto_settings).create_bucket(Bucket=moto_settings.bucket)
    path = write_dataset(tmp_path / "ds", 800)
    with pytest.raises(ReplayError, match="ResourceNotFoundException.*does the delivery stream"):
        replay(path, moto_settings, ReplayOptions(processes=1, replay_id="nostream"))
    checkpoint = json.loads((moto_settings.checkpoint_dir / "nostream.json").read_text())
    assert checkpoint["next_row"] == 0 and not checkpoint["complete"]
