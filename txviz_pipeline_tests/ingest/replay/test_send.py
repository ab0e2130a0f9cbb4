"""Sending one batch: retries with full jitter, resending exactly the failed entries, fatal
errors, the rate limiter on every call, the replay_id tag and dead letters."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from txviz_pipeline.ingest.replay.deadletters import DeadLetterWriter
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.ratelimit import Limits, RateLimiter
from txviz_pipeline.ingest.replay.send import (
    Failure,
    FatalSendError,
    RetryPolicy,
    send_batch,
    tagged_records,
)
from txviz_pipeline_tests.ingest.replay.data import START, record


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
        out = send_batch(client, "s", recs, retry=RetryPolicy(max_attempts=3), sleep=lambda s: None)
    stub.assert_no_pending_responses()
    assert out.sent == 5 and out.retried == 4
    assert out.failures == [Failure(3, "InternalFailure", "broken", 3)]


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
    local = DeadLetterWriter(moto_settings, "r1").write(0, 3, b'{"row_id": 1}\n')
    assert Path(local).read_bytes() == b'{"row_id": 1}\n'
    assert Path(local).is_relative_to(moto_settings.dead_letter_dir)


@pytest.mark.integration
def test_with_state_in_s3_a_failed_dead_letter_write_stops_instead_of_going_local(moto_settings):
    # On AWS a local copy would leave with the task's disk: the replay fails, the batch stays
    # unacknowledged, and a resume sends it again.
    settings = replace(moto_settings, state_store="s3")
    with pytest.raises(ReplayError, match="errors/replay-failed/r1/rows-0000000000-0000000003"):
        DeadLetterWriter(settings, "r1").write(0, 3, b'{"row_id": 1}\n')
    assert not settings.dead_letter_dir.exists()


def test_tag_records_names_the_replay_in_every_record():
    lines = [{"row_id": 1, "merchant": "fraud_A}\nB\r"}, {"row_id": 2, "job": "}"}]
    payload = b"".join(json.dumps(x).encode() + b"\n" for x in lines) + b"not json\n"
    records = tagged_records(payload, "replay-7")
    assert [json.loads(x) for x in records[:2]] == [{**x, "replay_id": "replay-7"} for x in lines]
    assert records[2] == b"not json\n"
    assert all(r.endswith(b"\n") and r.count(b"\n") == 1 for r in records)


def test_an_error_quoting_a_record_is_masked_and_capped():
    client, stub = stubbed_firehose()
    quoted = "Value '4652123412341234 " + "x" * 1_000 + "' at 'records.1.member.data' is invalid"
    stub.add_client_error("put_record_batch", "ValidationException", quoted, 400)
    with stub, pytest.raises(FatalSendError) as caught:
        send_batch(client, "s", records(1), sleep=lambda s: None)
    message = str(caught.value)
    assert "4652123412341234" not in message and "[redacted]" in message
    assert len(message) < 400
