"""One landed hour in moto S3 and its compaction, for the compaction and serving asset tests."""

import dagster as dg

from txviz_pipeline import aws
from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline_tests.compaction.records import landing_record, ndjson

HOUR = "2026/11/27/09"


def land_hour(settings, rows: int = 12) -> None:
    """``rows`` records in two objects of HOUR, with record 0 delivered twice."""
    s3 = aws.client("s3", settings)
    s3.create_bucket(Bucket=settings.bucket)
    records = [landing_record(i) for i in range(rows)]
    s3.put_object(Bucket=settings.bucket, Key=f"landing/{HOUR}/a", Body=ndjson(records[:5]))
    s3.put_object(
        Bucket=settings.bucket, Key=f"landing/{HOUR}/b", Body=ndjson(records[5:] + records[:1])
    )


def compact_hour() -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [transactions_parquet], partition_key=HOUR, resources={"aws": AwsResource()}
    )
