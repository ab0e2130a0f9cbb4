"""Replay: batch cutting, time-compressed scheduling, per-record retries and dead letters, and
whole replays into a moto server (rows limit, manifest, S3 checkpoints, failures)."""

from __future__ import annotations

import json
import random
import tempfile
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from txviz_pipeline import aws
from txviz_pipeline.ingest.ratelimit import Limits, RateLimiter
from txviz_pipeline.ingest.replay import (
    MAX_BATCH_BYTES,
    MAX_RECORD_BYTES,
    RECORD_TOO_LARGE,
    REPLAY_FAILED_PREFIX,
    BatchPlanner,
    Dataset,
    FatalSendError,
    ReplayError,
    ReplayOptions,
    Schedule,
    WorkerConfig,
    _Worker,
    replay,
    row_id_of,
    send_batch,
)
from txviz_pipeline_tests.ingest import replay_fakes
from txviz_pipeline_tests.ingest.replay_data import (
    START,
    create_stream,
    landed_row_ids,
    record,
    write_dataset,
)


def dataset_lines(path: Path) -> list[bytes]:
    ds = Dataset.open(path)
    return [line for p in ds.parts for line in p.path.read_bytes().splitlines(keepends=True)]


def batch_lines(batch) -> list[bytes]:
    return batch.payload.splitlines(keepends=True)


# ---- batch cutting ------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [1_000, 50_000, 8 * 1024 * 1024])
def test_batches_cover_every_row_once_in_order(tmp_path, chunk_bytes):
    path = write_dataset(tmp_path / "ds", 1_234, parts=3)
    planner = BatchPlanner(Dataset.open(path), 0, 1_234, chunk_bytes=chunk_bytes)
    batches = list(planner)
    assert [b.seq for b in batches] == list(range(len(batches)))
    assert all(b.count <= 500 and len(b.payload) <= MAX_BATCH_BYTES for b in batches)
    assert [b.count for b in batches][:2] == [500, 500]  # batches span part boundaries
    rows = 0
    for b in batches:
        assert b.first_row == rows and b.end_row == rows + b.count
        rows = b.end_row
    assert rows == 1_234
    assert [line for b in batches for line in batch_lines(b)] == dataset_lines(path)
    assert (planner.first_row_id, planner.last_row_id) == (0, 1_233)


def test_start_row_and_end_row_select_a_slice(tmp_path):
    path = write_dataset(tmp_path / "ds", 1_000, parts=4, first_row_id=100)
    planner = BatchPlanner(Dataset.open(path), 260, 777, chunk_bytes=2_000)
    batches = list(planner)
    sent = [row_id_of(line) for b in batches for line in batch_lines(b)]
    assert sent == list(range(360, 877))
    assert batches[0].first_row == 260 and batches[-1].end_row == 777
    assert (planner.first_row_id, planner.last_row_id) == (360, 876)


def test_a_missing_final_newline_is_added(tmp_path):
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(3)]
    lines[-1] = lines[-1].rstrip(b"\n")
    path = write_dataset(tmp_path / "ds", 3, lines=lines)
    (batch,) = BatchPlanner(Dataset.open(path), 0, 3)
    assert batch.payload.endswith(b"}\n") and batch.payload.count(b"\n") == 3


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 3_000), min_size=1, max_size=1_500),
    chunk_bytes=st.integers(64, 20_000),
    max_records=st.integers(1, 500),
    data=st.data(),
)
def test_any_line_lengths_chunk_sizes_and_slices(lengths, chunk_bytes, max_records, data):
    """Batches are contiguous, within limits, and reproduce the selected lines exactly."""
    start = data.draw(st.integers(0, len(lengths)))
    end = data.draw(st.integers(start, len(lengths)))
    lines = [b'{"row_id": %d, "pad": "%s"}\n' % (i, b"x" * n) for i, n in enumerate(lengths)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dataset(Path(tmp) / "ds", len(lines), parts=3, lines=lines)
        planner = BatchPlanner(
            Dataset.open(path), start, end, max_records=max_records, chunk_bytes=chunk_bytes
        )
        batches = list(planner)
    assert b"".join(b.payload for b in batches) == b"".join(lines[start:end])
    assert all(0 < b.count <= max_records for b in batches)
    assert [(b.first_row, b.end_row) for b in batches] == [
        (start + sum(b.count for b in batches[:i]), start + sum(b.count for b in batches[: i + 1]))
        for i in range(len(batches))
    ]
    if end > start:
        assert (planner.first_row_id, planner.last_row_id) == (start, end - 1)


@pytest.mark.parametrize("chunk_bytes", [64 * 1024, 8 * 1024 * 1024])
def test_byte_limit_and_oversized_records(tmp_path, chunk_bytes):
    big = 300 * 1024  # 14 of these exceed 4 MiB
    lines = [
        json.dumps(record(i, START, job="x" * (2 * MAX_RECORD_BYTES if i == 20 else big))).encode()
        + b"\n"
        for i in range(40)
    ]
    path = write_dataset(tmp_path / "ds", 40, lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, 40, chunk_bytes=chunk_bytes))
    assert all(len(b.payload) <= MAX_BATCH_BYTES for b in batches)
    assert max(b.count for b in batches) == 13
    rejects = [r for b in batches for r in b.rejects]
    assert [(row_id_of(r[0]), r[1]) for r in rejects] == [(20, RECORD_TOO_LARGE)]
    assert "1,000 KiB" in rejects[0][2]
    sent = [row_id_of(line) for b in batches for line in batch_lines(b)]
    assert sent == [i for i in range(40) if i != 20]
    assert sum(b.end_row - b.first_row for b in batches) == 40


def test_inconsistent_datasets_are_clear_errors(tmp_path):
    with pytest.raises(ReplayError, match="no manifest.json"):
        Dataset.open(tmp_path)
    path = write_dataset(tmp_path / "ds", 10, parts=2)
    with (path / "part-00001.ndjson").open("ab") as f:
        f.write(b'{"row_id": 10}\n')
    with pytest.raises(ReplayError, match="part-00001.ndjson is .* bytes but manifest.json says"):
        Dataset.open(path)
    path = write_dataset(tmp_path / "ds2", 10, parts=2)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["rows"] = 12
    manifest["parts"][1]["rows"] = 7
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReplayError, match="ends after 10 rows but its manifest.json says 12"):
        list(BatchPlanner(Dataset.open(path), 0, 12))


# ---- time-compressed replay ---------------------------------------------------------------


def test_compressed_batches_are_cut_at_time_boundaries(tmp_path):
    # One transaction every 2 s; speed 10 with 0.5 s lead: a batch spans < 5 event seconds.
    path = write_dataset(tmp_path / "ds", 20, step_s=2.0)
    batches = list(BatchPlanner(Dataset.open(path), 0, 20, speed=10, max_lead_s=0.5))
    assert [b.count for b in batches] == [3] * 6 + [2]
    assert [b.event_time for b in batches] == [START + timedelta(seconds=6 * i) for i in range(7)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_schedule_sends_each_batch_when_its_events_are_due(tmp_path):
    rows = 5_400  # three hours, one transaction every 2 s
    path = write_dataset(tmp_path / "ds", rows, step_s=2.0)
    clock = FakeClock()
    schedule = Schedule(3_600, clock=clock, sleep=clock.sleep)
    departures = []
    for batch in BatchPlanner(Dataset.open(path), 0, rows, speed=3_600, max_lead_s=0.2):
        schedule.wait(batch.event_time)
        departures.append((clock.now - 500.0, batch))
    # An hour of transactions per second: batches of 0.2 s (720 event seconds) each, the last
    # one leaving at 2.8 s.
    assert [b.count for _, b in departures] == [360] * 15
    assert [t for t, _ in departures] == pytest.approx([0.2 * i for i in range(15)])
    for left_at, batch in departures:
        first_due = (batch.first_row * 2.0) / 3_600
        last_due = ((batch.end_row - 1) * 2.0) / 3_600
        assert left_at == pytest.approx(first_due)  # never before its first record is due
        assert last_due - left_at <= 0.2  # and no record more than max_lead_s early


def test_schedule_as_fast_as_possible_never_sleeps():
    clock = FakeClock()
    schedule = Schedule(None, clock=clock, sleep=clock.sleep)
    assert schedule.wait(START + timedelta(days=1)) == 0 and clock.now == 500.0


# ---- sending, retries and dead letters (botocore Stubber) ------------------------------


def stubbed_firehose():
    client = boto3.session.Session().client(
        "firehose",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "max_attempts": 1}),
    )
    return client, Stubber(client)


def records(n: int) -> list[bytes]:
    return [json.dumps(record(i, START)).encode() + b"\n" for i in range(n)]


def ok(n: int) -> dict:
    return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": f"r{i}"} for i in range(n)]}


def test_throttling_and_service_unavailable_are_retried():
    client, stub = stubbed_firehose()
    recs = records(5)
    stub.add_client_error("put_record_batch", "ThrottlingException", http_status_code=400)
    stub.add_client_error("put_record_batch", "ServiceUnavailableException", http_status_code=503)
    stub.add_client_error("put_record_batch", "ServiceUnavailable", http_status_code=503)
    stub.add_response(
        "put_record_batch",
        ok(5),
        {"DeliveryStreamName": "s", "Records": [{"Data": r} for r in recs]},
    )
    sleeps: list[float] = []
    with stub:
        out = send_batch(client, "s", recs, sleep=sleeps.append, rng=random.Random(1))
    stub.assert_no_pending_responses()
    assert (out.sent, out.retried, out.attempts, out.failures) == (5, 15, 4, [])
    # Full jitter: each sleep lies in [0, base * 2**attempt].
    assert len(sleeps) == 3 and all(0 <= s <= 0.1 * 2**i for i, s in enumerate(sleeps))


def test_mixed_batch_resends_exactly_the_failed_entries():
    client, stub = stubbed_firehose()
    recs = records(6)
    bad = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"}
    dead = {"ErrorCode": "InternalFailure", "ErrorMessage": "broken"}
    stub.add_response(
        "put_record_batch",
        {
            "FailedPutCount": 3,
            "RequestResponses": [
                {"RecordId": "a"},
                bad,
                {"RecordId": "b"},
                dead,
                bad,
                {"RecordId": "c"},
            ],
        },
        {"DeliveryStreamName": "s", "Records": [{"Data": r} for r in recs]},
    )
    # Attempt 2 carries exactly entries 1, 3, 4: 1 and 4 succeed, 3 fails again.
    stub.add_response(
        "put_record_batch",
        {"FailedPutCount": 1, "RequestResponses": [{"RecordId": "d"}, dead, {"RecordId": "e"}]},
        {"DeliveryStreamName": "s", "Records": [{"Data": recs[i]} for i in (1, 3, 4)]},
    )
    stub.add_response(
        "put_record_batch",
        {"FailedPutCount": 1, "RequestResponses": [dead]},
        {"DeliveryStreamName": "s", "Records": [{"Data": recs[3]}]},
    )
    with stub:
        out = send_batch(client, "s", recs, max_attempts=3, sleep=lambda s: None)
    stub.assert_no_pending_responses()
    assert out.sent == 5 and out.retried == 4
    assert out.failures == [(3, "InternalFailure", "broken", 3)]


def test_non_retryable_errors_fail_fast():
    client, stub = stubbed_firehose()
    stub.add_client_error(
        "put_record_batch", "ResourceNotFoundException", "Firehose x not found", 400
    )
    with stub, pytest.raises(FatalSendError, match="ResourceNotFoundException.*delivery stream"):
        send_batch(client, "s", records(2), sleep=lambda s: pytest.fail("slept"))


def test_every_send_and_resend_is_booked_on_the_rate_limiter():
    client, stub = stubbed_firehose()
    recs = records(4)
    stub.add_response(
        "put_record_batch",
        {
            "FailedPutCount": 1,
            "RequestResponses": [
                {"RecordId": "a"},
                {"ErrorCode": "InternalFailure", "ErrorMessage": "x"},
                {"RecordId": "b"},
                {"RecordId": "c"},
            ],
        },
    )
    stub.add_response("put_record_batch", ok(1))
    booked = []

    class Recording(RateLimiter):
        def acquire(self, records, nbytes, requests=1):
            booked.append((records, nbytes, requests))
            return 0.0

    with stub:
        send_batch(client, "s", recs, limiter=Recording(Limits()), sleep=lambda s: None)
    assert booked == [(4, sum(map(len, recs)), 1), (1, len(recs[1]), 1)]


@pytest.mark.integration
def test_dead_letter_falls_back_to_a_local_file_when_s3_fails(tmp_path, moto_settings):
    # No bucket was created, so the S3 PUT fails.
    worker = _Worker.__new__(_Worker)
    worker.config = WorkerConfig(moto_settings, "r1", 1, 0.0, 0.0, None, None, 0)
    worker._s3 = None
    key, local = worker._write_dead_letter(0, 3, b'{"row_id": 1}\n')
    assert key is None
    assert Path(local).read_bytes() == b'{"row_id": 1}\n'
    assert Path(local).is_relative_to(moto_settings.dead_letter_dir)


# ---- whole replays against a moto server ------------------------------------------------


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
            client_factory=replay_fakes.faulty_firehose,
        ),
    )
    dead = {i for i in range(1_200) if replay_fakes.is_dead(i)} | {700}
    flaky = {i for i in range(1_200) if replay_fakes.is_flaky(i)} - dead
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
    assert json.loads(too_large["data"])["row_id"] == 700
    for d in letters:
        if d["row_id"] != 700:
            assert (d["error_code"], d["attempts"]) == ("InternalFailure", 4)
            assert "not accepted after 4 attempts" in d["reason"]
            # What was sent: the record tagged with the replay that sent it.
            sent = {**record(d["row_id"], START), "replay_id": "faulty"}
            assert json.loads(d["data"]) == sent
    manifest = read_json(moto_settings, "replays/faulty/manifest.json")
    assert manifest["sent"] + manifest["failed"] == 1_200 and manifest["complete"]


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


def test_options_are_validated():
    with pytest.raises(ValueError, match="replay id"):
        ReplayOptions(replay_id="../etc")
    with pytest.raises(ValueError, match="max_batch_records"):
        ReplayOptions(max_batch_records=501)
    with pytest.raises(ValueError, match="checkpoint_store"):
        ReplayOptions(checkpoint_store="redis")


def test_tag_records_names_the_replay_in_every_record():
    from txviz_pipeline.ingest.replay import tagged_records

    lines = [{"row_id": 1, "merchant": "fraud_A}\nB\r"}, {"row_id": 2, "job": "}"}]
    payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines) + b"not json\n"
    records = tagged_records(payload, "replay-7")
    assert [json.loads(x) for x in records[:2]] == [{**x, "replay_id": "replay-7"} for x in lines]
    assert records[2] == b"not json\n"
    assert all(r.endswith(b"\n") and r.count(b"\n") == 1 for r in records)
