"""The S3 landing zone, one hourly partition per Firehose arrival hour, with its checks."""

import dagster as dg

from txviz_pipeline.compaction.hourstate import HourStore
from txviz_pipeline.defs.ingest.assets import firehose_replay
from txviz_pipeline.defs.partitions import landing_hours
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.landing.checks import DEFAULT_MAX_BAD_RECORD_RATE, read_partition

LANDING_RECORDS_PARSE = "landing_records_parse"
LANDING_SCHEMA_CONFORMS = "landing_schema_conforms"
NO_DUPLICATE_TRANS_NUM = "no_duplicate_trans_num"
BAD_RECORD_RATE_BELOW_THRESHOLD = "bad_record_rate_below_threshold"


@dg.asset(
    deps=[firehose_replay],
    partitions_def=landing_hours,
    group_name="landing",
    kinds={"s3"},
    check_specs=[
        dg.AssetCheckSpec(
            LANDING_RECORDS_PARSE,
            asset="landing_transactions",
            blocking=True,
            description="Every line of every new landing object is valid JSON.",
        ),
        dg.AssetCheckSpec(
            LANDING_SCHEMA_CONFORMS,
            asset="landing_transactions",
            blocking=True,
            description="Every new landing record has exactly the landing schema's fields and "
            "types.",
        ),
        dg.AssetCheckSpec(
            NO_DUPLICATE_TRANS_NUM,
            asset="landing_transactions",
            description="No trans_num of this run's new objects landed before (at-least-once "
            "delivery can repeat records).",
        ),
        dg.AssetCheckSpec(
            BAD_RECORD_RATE_BELOW_THRESHOLD,
            asset="landing_transactions",
            description="Quarantined, failed and unreadable records stay under "
            f"{DEFAULT_MAX_BAD_RECORD_RATE:.0%} of records.",
        ),
    ],
)
def landing_transactions(context: dg.AssetExecutionContext, aws: AwsResource):
    """Processed transactions delivered by Firehose to landing/YYYY/MM/DD/HH/ in S3."""
    settings = aws.settings()
    s3 = aws.client("s3")
    # The objects compaction has merged were checked by an earlier run: read only the rest.
    hour = HourStore(s3, settings.bucket, context.partition_key)
    compacted = hour.load()
    report = read_partition(
        s3, settings.bucket, context.partition_key, compacted, hour.load_trans_nums(compacted)
    )
    examples = "\n".join(report.examples) or "none"
    yield dg.MaterializeResult(
        metadata={
            "objects": report.objects,
            "objects_already_compacted": report.objects_compacted,
            "records": report.records,
            "hour_records": report.hour_records,
            "quarantined": report.quarantined,
            "processing_failed": report.processing_failed,
            "duplicates": report.duplicates,
            "hour_duplicates": report.duplicates + report.compacted.duplicates_removed,
            "bad_record_rate": round(report.bad_record_rate, 5),
            "failure_reasons": dict(report.failure_reasons.most_common(10)),
            "newest_object_at": str(report.newest_object_at),
        }
    )
    yield dg.AssetCheckResult(
        check_name=LANDING_RECORDS_PARSE,
        passed=report.unparseable == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"unparseable_lines": report.unparseable, "examples": examples},
    )
    yield dg.AssetCheckResult(
        check_name=LANDING_SCHEMA_CONFORMS,
        passed=report.nonconforming == 0,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"nonconforming_records": report.nonconforming, "examples": examples},
    )
    yield dg.AssetCheckResult(
        check_name=NO_DUPLICATE_TRANS_NUM,
        passed=report.duplicates == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"duplicate_trans_nums": report.duplicates},
    )
    yield dg.AssetCheckResult(
        check_name=BAD_RECORD_RATE_BELOW_THRESHOLD,
        passed=report.bad_record_rate < DEFAULT_MAX_BAD_RECORD_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{report.bad_records} of {report.records + report.bad_records} records "
        f"({report.bad_record_rate:.1%}) were refused by the processor, failed or unreadable; "
        f"the check warns from {DEFAULT_MAX_BAD_RECORD_RATE:.0%}.",
        metadata={
            "bad_record_rate": round(report.bad_record_rate, 5),
            "threshold": DEFAULT_MAX_BAD_RECORD_RATE,
            "bad_records": report.bad_records,
        },
    )
