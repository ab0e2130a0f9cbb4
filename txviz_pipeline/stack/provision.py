"""Create txviz's AWS resources on the embedded stack with boto3, idempotently.

The names come from txviz_pipeline.settings, the same ones infra/ uses on real AWS (moto's
CloudFormation silently skips Firehose and Glue, so the embedded stack is built here instead).
The processor Lambda is referenced by ARN but not created: moto cannot run Lambda code without
Docker, and the processor hook in the moto server runs lambda/handler.py itself.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from txviz_pipeline import aws, settings
from txviz_pipeline.settings import Settings

log = logging.getLogger(__name__)

# moto's default account; on AWS the account comes from infra/'s stack.
EMBEDDED_ACCOUNT_ID = "123456789012"
FIREHOSE_ROLE = "txviz-firehose-delivery"
# infra/'s buffering (dynamic partitioning needs at least 64 MB). moto ignores buffering (one
# object per Put call and prefix); the hints are set so the stream describes like the real one.
BUFFER_SIZE_MB = 64
BUFFER_INTERVAL_S = 60

_FIREHOSE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "firehose.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}

PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"


def processor_arn(s: Settings) -> str:
    return f"arn:aws:lambda:{s.region}:{EMBEDDED_ACCOUNT_ID}:function:{settings.PROCESSOR_FUNCTION}"


def extended_s3_config(s: Settings, role_arn: str) -> dict[str, Any]:
    """The delivery stream's ExtendedS3 destination (prefixes, buffering, processor)."""
    return {
        "RoleARN": role_arn,
        "BucketARN": f"arn:aws:s3:::{s.bucket}",
        "Prefix": settings.DELIVERY_PREFIX_TEMPLATE,
        "ErrorOutputPrefix": settings.ERROR_PREFIX_TEMPLATE,
        "DynamicPartitioningConfiguration": {"Enabled": True},
        "BufferingHints": {"SizeInMBs": BUFFER_SIZE_MB, "IntervalInSeconds": BUFFER_INTERVAL_S},
        "CompressionFormat": "UNCOMPRESSED",
        "ProcessingConfiguration": {
            "Enabled": True,
            "Processors": [
                {
                    "Type": "Lambda",
                    "Parameters": [
                        {"ParameterName": "LambdaArn", "ParameterValue": processor_arn(s)}
                    ],
                }
            ],
        },
    }


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _bucket(s: Settings, created: list[str]) -> None:
    s3 = aws.client("s3", s)
    try:
        s3.head_bucket(Bucket=s.bucket)
        return
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    kwargs: dict[str, Any] = {"Bucket": s.bucket}
    if s.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": s.region}
    s3.create_bucket(**kwargs)
    created.append(f"s3://{s.bucket}")


def _role(s: Settings, created: list[str]) -> str:
    iam = aws.client("iam", s)
    try:
        arn = iam.get_role(RoleName=FIREHOSE_ROLE)["Role"]["Arn"]
    except ClientError as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        arn = iam.create_role(
            RoleName=FIREHOSE_ROLE, AssumeRolePolicyDocument=json.dumps(_FIREHOSE_TRUST)
        )["Role"]["Arn"]
        created.append(f"iam role {FIREHOSE_ROLE}")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "s3:AbortMultipartUpload",
                    "s3:GetBucketLocation",
                    "s3:GetObject",
                    "s3:ListBucket",
                    "s3:ListBucketMultipartUploads",
                    "s3:PutObject",
                ],
                "Resource": [f"arn:aws:s3:::{s.bucket}", f"arn:aws:s3:::{s.bucket}/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction", "lambda:GetFunctionConfiguration"],
                "Resource": [processor_arn(s), f"{processor_arn(s)}:*"],
            },
        ],
    }
    # put_role_policy replaces the inline policy, so re-running converges.
    iam.put_role_policy(
        RoleName=FIREHOSE_ROLE,
        PolicyName="txviz-firehose-delivery",
        PolicyDocument=json.dumps(policy),
    )
    return arn


def _delivery_stream(s: Settings, role_arn: str, created: list[str], name: str) -> str:
    firehose = aws.client("firehose", s)
    wanted = extended_s3_config(s, role_arn)
    try:
        desc = firehose.describe_delivery_stream(DeliveryStreamName=name)[
            "DeliveryStreamDescription"
        ]
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise
        arn = firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration=wanted,
        )["DeliveryStreamARN"]
        created.append(f"firehose {name}")
        return arn
    current = desc["Destinations"][0].get("ExtendedS3DestinationDescription", {})
    keys = (
        "BucketARN",
        "Prefix",
        "ErrorOutputPrefix",
        "DynamicPartitioningConfiguration",
        "ProcessingConfiguration",
    )
    if any(current.get(k) != wanted[k] for k in keys):
        # A stream left with other settings (an older run, a manual edit) is brought back in line.
        firehose.update_destination(
            DeliveryStreamName=name,
            CurrentDeliveryStreamVersionId=desc["VersionId"],
            DestinationId=desc["Destinations"][0]["DestinationId"],
            ExtendedS3DestinationUpdate=wanted,
        )
        created.append(f"firehose {name} (destination updated)")
    return desc["DeliveryStreamARN"]


def _topic(s: Settings, created: list[str]) -> str:
    sns = aws.client("sns", s)
    existing = {
        t["TopicArn"]
        for page in sns.get_paginator("list_topics").paginate()
        for t in page.get("Topics", [])
    }
    arn = sns.create_topic(Name=settings.ALERTS_TOPIC)["TopicArn"]  # idempotent on AWS and moto
    if arn not in existing:
        created.append(f"sns {settings.ALERTS_TOPIC}")
    return arn


def alerts_queue(s: Settings, topic_arn: str, created: list[str]) -> str:
    """The SQS queue subscribed to the alerts topic: where local readers and tests take alerts.

    Not raw delivery: each message is SNS's JSON envelope with Subject, Message and the
    MessageAttributes, as an e-mail or HTTPS subscriber sees them.
    """
    sqs = aws.client("sqs", s)
    queue_url = sqs.create_queue(QueueName=settings.ALERTS_QUEUE)["QueueUrl"]  # idempotent
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns = aws.client("sns", s)
    subscribed = {
        sub["Endpoint"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        for sub in page.get("Subscriptions", [])
    }
    if queue_arn not in subscribed:
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        created.append(f"sqs {settings.ALERTS_QUEUE} subscribed to {settings.ALERTS_TOPIC}")
    return queue_url


def glue_columns() -> list[dict[str, str]]:
    """Glue columns for the curated table, from schema.LANDING_FIELDS."""
    from txviz_pipeline.schema import GLUE_TYPES, LANDING_FIELDS

    return [{"Name": name, "Type": GLUE_TYPES[kind]} for name, kind in LANDING_FIELDS.items()]


def _glue(s: Settings, created: list[str]) -> None:
    glue = aws.client("glue", s)
    try:
        glue.create_database(DatabaseInput={"Name": settings.GLUE_DATABASE})
        created.append(f"glue database {settings.GLUE_DATABASE}")
    except ClientError as exc:
        if _error_code(exc) != "AlreadyExistsException":
            raise
    table = {
        "Name": settings.GLUE_TABLE,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "StorageDescriptor": {
            "Columns": glue_columns(),
            "Location": f"s3://{s.bucket}/{settings.CURATED_PREFIX}",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
        },
    }
    try:
        glue.create_table(DatabaseName=settings.GLUE_DATABASE, TableInput=table)
        created.append(f"glue table {settings.GLUE_DATABASE}.{settings.GLUE_TABLE}")
    except ClientError as exc:
        if _error_code(exc) != "AlreadyExistsException":
            raise


def provision(s: Settings) -> dict[str, Any]:
    """Create (or converge) bucket, IAM role, delivery stream(s), SNS topic (with its SQS queue on
    the embedded stack) and Glue table."""
    created: list[str] = []
    _bucket(s, created)
    role_arn = _role(s, created)
    stream_arn = _delivery_stream(s, role_arn, created, s.delivery_stream)
    # Shards of a replay in parts: the same processor, bucket and prefixes.
    shard_arns = [_delivery_stream(s, role_arn, created, name) for name in s.shard_streams]
    topic_arn = _topic(s, created)
    if s.embedded:
        queue_url = alerts_queue(s, topic_arn, created)
    _glue(s, created)
    log.info("provisioned %s: %s", s.endpoint_url or "AWS", ", ".join(created) or "nothing new")
    return {
        "bucket": s.bucket,
        "delivery_stream": s.delivery_stream,
        "delivery_stream_arn": stream_arn,
        "shard_stream_arns": shard_arns,
        "role_arn": role_arn,
        "processor_arn": processor_arn(s),
        "alerts_topic_arn": topic_arn,
        "alerts_queue_url": queue_url if s.embedded else None,
        "glue_table": f"{settings.GLUE_DATABASE}.{settings.GLUE_TABLE}",
        "created": created,
    }
