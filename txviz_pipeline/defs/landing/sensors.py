"""Turn new landing-zone objects into runs of process_landing_job, missing none."""

import hashlib

import dagster as dg

from txviz_pipeline.defs.compaction.assets import process_landing_job
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.landing.scanner import s3_key_lister, scan_landing


@dg.sensor(
    job=process_landing_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def landing_objects_sensor(context: dg.SensorEvaluationContext, aws: AwsResource):
    """Lists recent landing hours against the keys already seen; one run per hour with news."""
    settings = aws.settings()
    lister = s3_key_lister(aws.client("s3"), settings.bucket)
    result = scan_landing(lister, context.cursor)
    run_requests = [
        dg.RunRequest(
            # The run key names exactly which objects this run was asked for, so a repeated
            # evaluation (e.g. after a daemon restart before the cursor was saved) is deduplicated.
            run_key=f"{partition}:{_digest(keys)}",
            partition_key=partition,
            tags={"txviz/new_objects": str(len(keys))},
        )
        for partition, keys in result.new_keys.items()
    ]
    if not run_requests:
        return dg.SensorResult(
            skip_reason=f"no new objects ({result.listed} listed)", cursor=result.cursor
        )
    context.log.info("%d new objects in %s", result.new_count, ", ".join(sorted(result.new_keys)))
    return dg.SensorResult(run_requests=run_requests, cursor=result.cursor)


def _digest(keys: list[str]) -> str:
    return hashlib.blake2b("\n".join(sorted(keys)).encode(), digest_size=8).hexdigest()
