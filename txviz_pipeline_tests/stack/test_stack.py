"""The embedded stack over HTTP: provisioning, and Firehose deliveries through a fake processor."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from txviz_pipeline import aws, settings
from txviz_pipeline.stack import control, processor_hook, provision
from txviz_pipeline.stack.control import StackInfo
from txviz_pipeline_tests.stack.stack_helpers import (
    empty_bucket,
    error_lines,
    objects,
    processor_stats,
)
from txviz_pipeline_tests.support.moto import free_port

pytestmark = pytest.mark.integration

FAKE_PROCESSOR = Path(__file__).with_name("fake_processor.py")
STREAM = settings.DELIVERY_STREAM
KEY_NAME = rf"{STREAM}-\d+-\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{{36}}"
LANDING_KEY = re.compile(rf"^landing/(\d{{4}}/\d\d/\d\d/\d\d)/{KEY_NAME}$")
QUARANTINE_KEY = re.compile(rf"^quarantine/(\d{{4}}/\d\d/\d\d/\d\d)/{KEY_NAME}$")
ERROR_KEY = re.compile(rf"^errors/processing-failed/(\d{{4}}/\d\d/\d\d/\d\d)/{KEY_NAME}$")


@pytest.fixture(scope="module")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    """A stack whose processor is fake_processor.py; the process environment points at it."""
    home = tmp_path_factory.mktemp("fake-stack-home")
    info = control.up(
        port=free_port(),
        home=home,
        server_env={settings.PROCESSOR_PATH_ENV: str(FAKE_PROCESSOR)},
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            for key, value in info.env.items():
                mp.setenv(key, value)
            yield info
    finally:
        control.down(home)


@pytest.fixture
def clients(fake_stack: StackInfo):
    s = fake_stack.settings
    s3, firehose = aws.client("s3", s), aws.client("firehose", s)
    empty_bucket(s3, s.bucket)
    return s3, firehose


def put(firehose, *payloads: bytes, stream: str = STREAM) -> list[str]:
    resp = firehose.put_record_batch(
        DeliveryStreamName=stream, Records=[{"Data": p} for p in payloads]
    )
    assert resp["FailedPutCount"] == 0
    return [r["RecordId"] for r in resp["RequestResponses"]]


def test_provisioning_creates_everything_and_is_idempotent(fake_stack: StackInfo):
    s = fake_stack.settings
    assert "firehose txviz-transactions" in fake_stack.resources["created"]
    desc = aws.client("firehose", s).describe_delivery_stream(DeliveryStreamName=STREAM)
    dest = desc["DeliveryStreamDescription"]["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert dest["BucketARN"] == f"arn:aws:s3:::{settings.BUCKET}"
    assert dest["Prefix"] == settings.DELIVERY_PREFIX_TEMPLATE
    assert dest["ErrorOutputPrefix"] == settings.ERROR_PREFIX_TEMPLATE
    assert dest["DynamicPartitioningConfiguration"] == {"Enabled": True}
    assert dest["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert dest["RoleARN"].endswith(f":role/{provision.FIREHOSE_ROLE}")
    assert processor_hook.lambda_arn(dest) == (
        f"arn:aws:lambda:us-east-1:123456789012:function:{settings.PROCESSOR_FUNCTION}"
    )
    topics = aws.client("sns", s).list_topics()["Topics"]
    assert any(t["TopicArn"].endswith(f":{settings.ALERTS_TOPIC}") for t in topics)
    (sub,) = aws.client("sns", s).list_subscriptions_by_topic(
        TopicArn=fake_stack.resources["alerts_topic_arn"]
    )["Subscriptions"]
    assert (sub["Protocol"], sub["Endpoint"]) == (
        "sqs",
        f"arn:aws:sqs:us-east-1:123456789012:{settings.ALERTS_QUEUE}",
    )
    table = aws.client("glue", s).get_table(
        DatabaseName=settings.GLUE_DATABASE, Name=settings.GLUE_TABLE
    )["Table"]
    assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]][:2] == ["trans_num", "row_id"]
    # The Lambda is referenced, never created: moto cannot run it.
    assert aws.client("lambda", s).list_functions()["Functions"] == []

    again = provision.provision(s)
    assert again["created"] == []
    assert again["delivery_stream_arn"] == fake_stack.resources["delivery_stream_arn"]
    assert len(aws.client("firehose", s).list_delivery_streams()["DeliveryStreamNames"]) == 1


def test_provisioning_brings_a_drifted_stream_back(fake_stack: StackInfo):
    s = fake_stack.settings
    firehose = aws.client("firehose", s)
    desc = firehose.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    firehose.update_destination(
        DeliveryStreamName=STREAM,
        CurrentDeliveryStreamVersionId=desc["VersionId"],
        DestinationId=desc["Destinations"][0]["DestinationId"],
        ExtendedS3DestinationUpdate={"Prefix": "elsewhere/"},
    )
    result = provision.provision(s)
    assert any("destination updated" in c for c in result["created"])
    desc = firehose.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    dest = desc["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert dest["Prefix"] == settings.DELIVERY_PREFIX_TEMPLATE
    assert processor_hook.lambda_arn(dest) is not None
    assert provision.provision(s)["created"] == []


def test_mixed_batch_lands_ok_and_routes_failures_with_reasons(fake_stack: StackInfo, clients):
    s3, firehose = clients
    before = processor_stats(fake_stack).get(STREAM, {})
    payloads = [
        b'{"n":1}\n',
        b'{"n":"bad"}\n',
        b'{"n":1}\n',
        b'{"n":"quar"}\n',
        b'{"n":3}\n',
        b"bad\xff\n",
    ]
    record_ids = put(firehose, *payloads)
    assert len(set(record_ids)) == len(payloads)

    landing = objects(s3, settings.BUCKET, settings.LANDING_PREFIX)
    assert len(landing) == 1
    [(landing_key, body)] = landing.items()
    assert body == b'{"N":1}\n{"N":3}\n'  # upper-cased Ok records, the duplicate dropped
    # Dynamic partitioning: the record routed by zone=quarantine lands in its own prefix.
    [(quarantine_key, quarantined)] = objects(
        s3, settings.BUCKET, settings.QUARANTINE_PREFIX
    ).items()
    assert quarantined == b'{"N":"QUAR"}\n'

    errors = objects(s3, settings.BUCKET, "errors/")
    assert len(errors) == 1
    [(error_key, error_body)] = errors.items()
    lines = error_lines(error_body)
    assert [base64.b64decode(e["rawData"]) for e in lines] == [payloads[1], payloads[5]]
    for e in lines:
        assert set(e) == {
            "attemptsMade",
            "arrivalTimestamp",
            "errorCode",
            "errorMessage",
            "attemptEndingTimestamp",
            "rawData",
            "lambdaArn",
        }
        assert e["errorCode"] == "Lambda.ProcessingFailedStatus"
        assert e["errorMessage"].startswith("bad record:")
        assert e["lambdaArn"] == fake_stack.resources["processor_arn"]
        assert e["attemptEndingTimestamp"] >= e["arrivalTimestamp"]

    # All objects are keyed by the arrival hour, in Firehose's object-name format.
    landing_hour = LANDING_KEY.match(landing_key)
    quarantine_hour = QUARANTINE_KEY.match(quarantine_key)
    error_hour = ERROR_KEY.match(error_key)
    assert landing_hour and quarantine_hour and error_hour
    assert landing_hour.group(1) == quarantine_hour.group(1) == error_hour.group(1)

    after = processor_stats(fake_stack)[STREAM]
    delta = {k: after[k] - before.get(k, 0) for k in after}
    assert delta == {
        "deliveries": 1,
        "records_in": 6,
        "ok": 3,
        "processing_failed": 2,
        "dropped": 1,
        "partitioning_failed": 0,
        "invocation_failures": 0,
    }
    assert delta["records_in"] == delta["ok"] + delta["processing_failed"] + delta["dropped"]


@pytest.mark.parametrize(
    ("marker", "code", "message"),
    [
        (b"RAISE", "Lambda.FunctionError", "RuntimeError: processor blew up on purpose"),
        (b"WRONGID", "Lambda.MissingRecordId", "missing from the response"),
    ],
)
def test_failed_invocation_routes_every_record_to_errors(
    fake_stack: StackInfo, clients, marker, code, message
):
    s3, firehose = clients
    before = processor_stats(fake_stack)[STREAM]
    payloads = [b"fine-1\n", b"fine-2\n", b"fine-" + marker + b"\n"]
    put(firehose, *payloads)

    assert objects(s3, settings.BUCKET, settings.LANDING_PREFIX) == {}
    [body] = objects(s3, settings.BUCKET, settings.PROCESSING_FAILED_PREFIX).values()
    lines = error_lines(body)
    assert [base64.b64decode(e["rawData"]) for e in lines] == payloads
    assert {e["errorCode"] for e in lines} == {code}
    assert all(message in e["errorMessage"] for e in lines)

    after = processor_stats(fake_stack)[STREAM]
    assert after["processing_failed"] - before["processing_failed"] == 3
    assert after["invocation_failures"] - before["invocation_failures"] == 1
    assert after["ok"] == before["ok"]


def test_ok_record_without_its_partition_key_fails_partitioning(fake_stack: StackInfo, clients):
    s3, firehose = clients
    before = processor_stats(fake_stack)[STREAM]
    put(firehose, b"fine\n", b"nokey\n")
    assert list(objects(s3, settings.BUCKET, settings.LANDING_PREFIX).values()) == [b"FINE\n"]
    errors = objects(s3, settings.BUCKET, "errors/")
    [(key, body)] = errors.items()
    assert key.startswith("errors/partitioning-failed/")
    [line] = error_lines(body)
    # Written as the processor returned it, never as it arrived.
    assert base64.b64decode(line["rawData"]) == b"NOKEY\n"
    assert line["errorCode"] == processor_hook.ERR_PARTITION_KEY
    assert "'zone'" in line["errorMessage"]
    after = processor_stats(fake_stack)[STREAM]
    assert after["partitioning_failed"] - before["partitioning_failed"] == 1


def test_no_ok_records_means_no_landing_object(fake_stack: StackInfo, clients):
    s3, firehose = clients
    put(firehose, b"bad-1\n", b"bad-2\n")
    assert objects(s3, settings.BUCKET, settings.LANDING_PREFIX) == {}
    [body] = objects(s3, settings.BUCKET, settings.PROCESSING_FAILED_PREFIX).values()
    assert len(error_lines(body)) == 2


def test_each_put_is_one_delivery_and_counts_reconcile(fake_stack: StackInfo, clients):
    s3, firehose = clients
    before = processor_stats(fake_stack)[STREAM]
    batches = [[f"{b}-{i}\n".encode() for i in range(50)] for b in range(4)]
    batches[1][7] = b"bad-7\n"
    batches[2][3] = batches[2][2]
    for batch in batches:
        put(firehose, *batch)
    landed = b"".join(objects(s3, settings.BUCKET, settings.LANDING_PREFIX).values())
    failed = [
        line
        for body in objects(s3, settings.BUCKET, settings.PROCESSING_FAILED_PREFIX).values()
        for line in error_lines(body)
    ]
    after = processor_stats(fake_stack)[STREAM]
    assert len(objects(s3, settings.BUCKET, settings.LANDING_PREFIX)) == 4
    assert landed.count(b"\n") == after["ok"] - before["ok"] == 198
    assert len(failed) == after["processing_failed"] - before["processing_failed"] == 1
    assert after["dropped"] - before["dropped"] == 1
    assert after["records_in"] - before["records_in"] == 200


def test_put_record_batch_answer_is_aws_shaped(fake_stack: StackInfo, clients):
    """The server writes PutRecordBatch's answer itself (``write_put_record_batch_directly``):
    botocore reads the same fields AWS returns, one distinct RecordId per record."""
    _, firehose = clients
    records = [{"Data": b'{"n":1}\n'}, {"Data": b'{"n":"bad"}\n'}, {"Data": b"x\n"}]
    answer = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=records)
    assert answer["FailedPutCount"] == 0
    assert answer["Encrypted"] is False
    ids = [r["RecordId"] for r in answer["RequestResponses"]]
    assert len(ids) == len(set(ids)) == 3 and all(ids)
    assert all(set(r) == {"RecordId"} for r in answer["RequestResponses"])
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(firehose.exceptions.ResourceNotFoundException, match="no-such-stream"):
        firehose.put_record_batch(DeliveryStreamName="no-such-stream", Records=records)


def test_stream_without_processing_keeps_moto_behaviour(fake_stack: StackInfo, clients):
    s3, firehose = clients
    role = fake_stack.resources["role_arn"]
    try:
        firehose.create_delivery_stream(
            DeliveryStreamName="raw-stream",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role,
                "BucketARN": f"arn:aws:s3:::{settings.BUCKET}",
                "Prefix": "raw/",
                "ErrorOutputPrefix": settings.ERROR_PREFIX_TEMPLATE,
            },
        )
        put(firehose, b"bad stays raw\n", b"dup\n", b"dup\n", stream="raw-stream")
        raw = objects(s3, settings.BUCKET, "raw/")
        assert list(raw.values()) == [b"bad stays raw\ndup\ndup\n"]
        assert re.match(r"^raw/\d{4}/\d\d/\d\d/\d\d/raw-stream-1-", next(iter(raw)))
        assert objects(s3, settings.BUCKET, "errors/") == {}
        assert "raw-stream" not in processor_stats(fake_stack)
    finally:
        firehose.delete_delivery_stream(DeliveryStreamName="raw-stream")


def test_status_reports_running_stack_and_object_counts(fake_stack: StackInfo, clients):
    _, firehose = clients
    put(firehose, b"one\n", b"bad\n")
    st = control.status(fake_stack.home)
    assert st.running and st.pid == fake_stack.pid and st.endpoint_url == fake_stack.endpoint_url
    assert (st.landing_objects, st.quarantine_objects, st.error_objects) == (1, 0, 1)
    assert st.processor_stats is not None and STREAM in st.processor_stats


def test_card_token_key_is_private_and_reaches_the_server(fake_stack: StackInfo, clients):
    key_file = fake_stack.home / "stack" / "card-token.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_text().strip()) >= 32
    # The fake processor raises without TXVIZ_CARD_TOKEN_KEY, so an Ok record proves it arrived.
    s3, firehose = clients
    put(firehose, b"needs-the-key\n")
    assert list(objects(s3, settings.BUCKET, settings.LANDING_PREFIX).values()) == [
        b"NEEDS-THE-KEY\n"
    ]
    state = json.loads((fake_stack.home / "stack" / "stack.json").read_text())
    assert state["pid"] == fake_stack.pid and state["port"] == fake_stack.port
    assert os.environ.get("AWS_ENDPOINT_URL") == fake_stack.endpoint_url


def test_the_stack_is_private_to_its_owner(fake_stack: StackInfo):
    assert stat.S_IMODE(fake_stack.home.stat().st_mode) == 0o700
    assert stat.S_IMODE((fake_stack.home / "stack").stat().st_mode) == 0o700
    status = Path(f"/proc/{fake_stack.pid}/status").read_text()
    (umask,) = [line.split()[1] for line in status.splitlines() if line.startswith("Umask:")]
    assert int(umask, 8) == 0o077


def test_shard_streams_get_the_same_processor_and_destination(fake_stack: StackInfo, clients):
    """Last in this module: it leaves a second stream behind."""
    s3, firehose = clients
    shard = f"{STREAM}-2"
    s = dataclasses.replace(fake_stack.settings, shard_streams=(shard,))
    result = provision.provision(s)
    assert f"firehose {shard}" in result["created"] and len(result["shard_stream_arns"]) == 1

    def destination(name: str) -> dict:
        desc = firehose.describe_delivery_stream(DeliveryStreamName=name)
        return desc["DeliveryStreamDescription"]["Destinations"][0][
            "ExtendedS3DestinationDescription"
        ]

    assert destination(shard) == destination(STREAM)
    put(firehose, b'{"n":7}\n', stream=shard)
    [body] = objects(s3, settings.BUCKET, settings.LANDING_PREFIX).values()
    assert body == b'{"N":7}\n'  # through the processor, into the same landing zone
    assert provision.provision(s)["created"] == []
