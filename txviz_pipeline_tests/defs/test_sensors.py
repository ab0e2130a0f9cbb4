"""The sensors, evaluated the way the daemon does, against moto server and a test instance."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.landing.sensors import landing_objects_sensor
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.schedules import compaction_sensor


@pytest.mark.integration
def test_landing_sensor_requests_one_run_per_hour_and_never_repeats(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    for i in range(3):
        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj-{i}", Body=b"{}\n")
    s3.put_object(Bucket=moto_settings.bucket, Key=f"errors/processing-failed/{hour}/e", Body=b"")

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"aws": AwsResource()})
        result = landing_objects_sensor(context)
        (request,) = result.run_requests
        assert request.partition_key == hour
        assert request.tags["txviz/new_objects"] == "4"

        # The daemon restarts with the saved cursor: nothing new, nothing requested.
        context = dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"aws": AwsResource()}
        )
        again = landing_objects_sensor(context)
        assert not again.run_requests
        assert "no new objects" in again.skip_reason.skip_message

        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj-new", Body=b"{}\n")
        context = dg.build_sensor_context(
            instance=instance, cursor=again.cursor, resources={"aws": AwsResource()}
        )
        third = landing_objects_sensor(context)
        (request,) = third.run_requests
        assert request.tags["txviz/new_objects"] == "1"
        assert request.run_key != result.run_requests[0].run_key


def test_compaction_sensor_refreshes_spice_after_new_parquet():
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance)
        assert not list(compaction_sensor.evaluate_tick(context).run_requests)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(transactions_parquet.key, partition="2026/11/27/09")
        )
        result = compaction_sensor.evaluate_tick(context)
        (request,) = result.run_requests
        assert request.job_name in (None, "refresh_spice_job")
        assert request.run_key
