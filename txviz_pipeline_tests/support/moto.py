"""A bare moto server, free ports and a plain delivery stream: the AWS baseline that tests and
benchmarks measure txviz against (the embedded stack itself is txviz_pipeline.stack.control)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from txviz_pipeline import aws, settings
from txviz_pipeline.processes import start_group, stop_group, wait_for_http
from txviz_pipeline.settings import LOCALHOST, Settings


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def start_moto_server(port: int, log_path: Path) -> subprocess.Popen:
    """A bare moto server (no txviz hook or provisioning) on 127.0.0.1:``port``, ready to use."""
    argv = [sys.executable, "-m", "moto.server", "-H", LOCALHOST, "-p", str(port)]
    proc = start_group(argv, env=dict(os.environ), log_path=log_path)
    try:
        wait_for_http(f"http://{LOCALHOST}:{port}/moto-api/", proc=proc, log_path=log_path)
    except BaseException:
        stop_group(proc.pid)
        raise
    return proc


def create_plain_stream(s: Settings, prefix: str = settings.LANDING_PREFIX) -> None:
    """The bucket and a delivery stream with no processor: moto writes the raw records of each
    Put call as one object. The baseline the replay's tests and benchmark measure against."""
    aws.client("s3", s).create_bucket(Bucket=s.bucket)
    aws.client("firehose", s).create_delivery_stream(
        DeliveryStreamName=s.delivery_stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{s.bucket}",
            "Prefix": prefix,
        },
    )


def create_card_history_table(dynamodb, name: str) -> None:
    """The processor's card-history table as infra/template.yaml defines it (key card_token,
    on demand, TTL on expires_at)."""
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "card_token", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "card_token", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"},
    )
