"""The landing sensors, evaluated the way the daemon does, against moto server and a real
instance."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.landing import sensors
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.landing.sensors import landing_freshness_sensor, landing_objects_sensor
from txviz_pipeline.defs.resources import AwsResource, GuardsResource
from txviz_pipeline_tests.support.runs import add_run


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


def freshness_tick(instance, cursor=None) -> dg.SensorResult:
    # No silence is allowed, so a replay that has run at all with nothing landed is stale.
    resources = {"aws": AwsResource(), "guards": GuardsResource(max_landing_silence_minutes=0)}
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    return landing_freshness_sensor(context)


@pytest.mark.integration
def test_freshness_sensor_warns_while_a_started_replay_lands_nothing(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    seen_during_run: list[dg.SensorResult] = []

    # A stand-in for the replay job, under its name: while its op runs, the run is STARTED in
    # the instance, and the op evaluates the sensor as the daemon would at that moment.
    @dg.op
    def replaying(context: dg.OpExecutionContext) -> None:
        seen_during_run.append(freshness_tick(context.instance))

    @dg.job(name=replay_transactions_job.name)
    def stand_in_replay():
        replaying()

    with dg.instance_for_test() as instance:
        assert freshness_tick(instance).cursor == "fresh"  # no replay: silence is expected
        assert stand_in_replay.execute_in_process(instance=instance).success
        (during,) = seen_during_run
        (event,) = during.asset_events
        assert event.check_name == "landing_fresh_during_replay"
        assert not event.passed
        assert event.severity == dg.AssetCheckSeverity.WARN
        assert during.cursor == "stale"
        assert event.metadata["replay_running_since"].value != "None"

        # The run has finished: nothing is sending, so the landing zone is fresh again.
        after = freshness_tick(instance, cursor="stale")
        (event,) = after.asset_events
        assert event.passed and after.cursor == "fresh"
        assert event.description == "no replay running"
        # Unchanged state records nothing new.
        assert not freshness_tick(instance, cursor="fresh").asset_events


@pytest.mark.integration
def test_new_objects_of_an_hour_go_to_its_run_waiting_to_start(moto_settings, monkeypatch):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    other = "2026/01/01/00"
    resources = {"aws": AwsResource()}

    def tick(instance, cursor):
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        return landing_objects_sensor(context)

    with dg.instance_for_test() as instance:
        queued = add_run(instance, process_landing_job.name, dg.DagsterRunStatus.NOT_STARTED, hour)
        add_run(instance, process_landing_job.name, dg.DagsterRunStatus.STARTING, other)
        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj-1", Body=b"{}\n")
        first = tick(instance, None)
        # The queued run of the hour reads obj-1 when it starts: no second run waits behind it.
        assert not first.run_requests
        assert "waiting to start" in first.skip_reason.skip_message

        # Once that run has started it may have listed the hour already: new objects need a run.
        instance.handle_run_event(
            queued,
            dg.DagsterEvent(
                event_type_value=dg.DagsterEventType.RUN_START.value, job_name="process_landing_job"
            ),
        )
        assert instance.get_run_by_id(queued).status == dg.DagsterRunStatus.STARTED
        # But while it runs and objects keep arriving, the next run waits for a pause.
        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj-2", Body=b"{}\n")
        held = tick(instance, first.cursor)
        assert not held.run_requests
        assert f"{hour} wait while that hour's run runs" in held.skip_reason.skip_message
        assert held.cursor == first.cursor  # obj-2 is reported again by the next tick

        monkeypatch.setattr(sensors, "LANDING_QUIET_S", 0.0)  # the burst has paused
        second = tick(instance, held.cursor)
        (request,) = second.run_requests
        assert request.partition_key == hour
        assert request.tags["txviz/new_objects"] == "1"  # obj-1 went to the waiting run


@pytest.mark.integration
def test_objects_arriving_during_a_run_wait_a_minute_at_most(moto_settings, monkeypatch):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    resources = {"aws": AwsResource()}
    with dg.instance_for_test() as instance:
        add_run(instance, process_landing_job.name, dg.DagsterRunStatus.STARTED, hour)
        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj-1", Body=b"{}\n")
        context = dg.build_sensor_context(instance=instance, resources=resources)
        assert not landing_objects_sensor(context).run_requests

        # Objects keep arriving, but the oldest has waited its longest: the next run is asked.
        monkeypatch.setattr(sensors, "LANDING_MAX_HOLD_S", 0.0)
        context = dg.build_sensor_context(instance=instance, resources=resources)
        (request,) = landing_objects_sensor(context).run_requests
        assert request.partition_key == hour
