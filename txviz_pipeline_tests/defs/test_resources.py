"""The shared resources: dagster-aws's boto3 fields reach every client, and the guards' waits
come from their fields, else the environment, else the settings' defaults."""

from datetime import timedelta

import dagster as dg

from txviz_pipeline.defs.resources import AwsResource, GuardsResource, OutputsIOManager
from txviz_pipeline.settings import embedded_env


def test_boto3_fields_configure_clients_and_settings(monkeypatch, tmp_path):
    for key, value in embedded_env(6001, home=tmp_path).items():
        monkeypatch.setenv(key, value)
    resource = AwsResource(
        region_name="eu-west-1",
        endpoint_url="http://127.0.0.1:6002",
        max_attempts=2,
        bucket="other-bucket",
    )
    settings = resource.settings()
    assert (settings.region, settings.endpoint_url, settings.bucket, settings.home) == (
        "eu-west-1",
        "http://127.0.0.1:6002",
        "other-bucket",
        tmp_path,
    )
    s3 = resource.client("s3")
    assert s3.meta.region_name == "eu-west-1"
    assert s3.meta.endpoint_url == "http://127.0.0.1:6002"
    # botocore counts the first call on top of max_attempts retries.
    assert s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert s3.meta.config.s3 == {"addressing_style": "path"}


def test_empty_fields_fall_back_to_the_environment(monkeypatch, tmp_path):
    for key, value in embedded_env(6001, home=tmp_path).items():
        monkeypatch.setenv(key, value)
    assert AwsResource().client("firehose").meta.endpoint_url == "http://127.0.0.1:6001"


def test_guard_waits_from_field_environment_or_default(monkeypatch):
    monkeypatch.delenv("TXVIZ_RECONCILE_WAIT_S", raising=False)
    monkeypatch.delenv("TXVIZ_MAX_LANDING_SILENCE_MINUTES", raising=False)
    assert GuardsResource().reconcile_wait() == timedelta(seconds=300)
    assert GuardsResource().max_landing_silence() == timedelta(minutes=5)
    monkeypatch.setenv("TXVIZ_RECONCILE_WAIT_S", "7")
    monkeypatch.setenv("TXVIZ_MAX_LANDING_SILENCE_MINUTES", "0.5")
    assert GuardsResource().reconcile_wait() == timedelta(seconds=7)
    assert GuardsResource().max_landing_silence() == timedelta(seconds=30)
    guards = GuardsResource(reconcile_wait_s=0, max_landing_silence_minutes=2)
    assert guards.reconcile_wait() == timedelta(0)
    assert guards.max_landing_silence() == timedelta(minutes=2)


def test_outputs_stay_on_the_instance_disk_when_embedded(monkeypatch, tmp_path):
    for key, value in embedded_env(6001, home=tmp_path).items():
        monkeypatch.setenv(key, value)
    with dg.instance_for_test() as instance:
        context = dg.build_init_resource_context(instance=instance)
        manager = OutputsIOManager(aws=AwsResource()).create_io_manager(context)
    # The embedded stack is unchanged: Dagster's own filesystem IO manager, no S3 call.
    assert type(manager).__name__ == "PickledObjectFilesystemIOManager"
