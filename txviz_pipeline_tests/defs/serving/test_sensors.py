"""The serving sensor and schedule, evaluated the way the daemon does."""

import json

import dagster as dg
import pytest

from txviz_pipeline.defs.compaction.assets import transactions_parquet
from txviz_pipeline.defs.ingest.jobs import replay_transactions_job
from txviz_pipeline.defs.ingest.parts import replay_part_job
from txviz_pipeline.defs.landing.jobs import process_landing_job
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.defs.serving.jobs import refresh_spice_job
from txviz_pipeline.defs.serving.schedules import quarter_hourly_spice_schedule
from txviz_pipeline.defs.serving.sensors import coalesce, compaction_sensor
from txviz_pipeline_tests.support.runs import add_run

EMBEDDED = AwsResource(endpoint_url="http://127.0.0.1:5055")


@pytest.fixture
def on_aws(monkeypatch) -> AwsResource:
    for name in ("AWS_ENDPOINT_URL", "TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES"):
        monkeypatch.delenv(name, raising=False)
    return AwsResource(region_name="us-east-1")


def compacted(instance: dg.DagsterInstance, hour: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(transactions_parquet.key, hour))


def tick(instance: dg.DagsterInstance, aws: AwsResource, cursor: str | None):
    """One daemon tick: a fresh context carrying the cursor the last tick saved."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"aws": aws}) as ctx:
        return compaction_sensor.evaluate_tick(ctx)


def test_compaction_sensor_refreshes_spice_after_new_parquet():
    with dg.instance_for_test() as instance:
        first = tick(instance, EMBEDDED, None)
        assert not list(first.run_requests)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(transactions_parquet.key, partition="2026/11/27/09")
        )
        result = tick(instance, EMBEDDED, first.cursor)
        (request,) = result.run_requests
        assert request.job_name in (None, refresh_spice_job.name)
        assert request.run_key


def test_embedded_refreshes_after_every_tick_with_new_parquet():
    with dg.instance_for_test() as instance:
        keys, cursor = [], None
        for hour in ("2026/11/27/09", "2026/11/27/10", "2026/11/27/11"):
            compacted(instance, hour)
            result = tick(instance, EMBEDDED, cursor)
            keys += [request.run_key for request in result.run_requests]
            cursor = result.cursor
        assert len(set(keys)) == 3
        assert tick(instance, EMBEDDED, cursor).run_requests == []


def test_on_aws_a_burst_of_compactions_requests_one_refresh(on_aws):
    with dg.instance_for_test() as instance:
        requests, skips, cursor = [], [], None
        for hour in range(10):
            compacted(instance, f"2026/11/27/{hour:02d}")
            result = tick(instance, on_aws, cursor)
            requests += result.run_requests
            skips += [result.skip_message] if result.skip_message else []
            cursor = result.cursor
        assert len(requests) == 1
        assert len(skips) == 9
        assert all("waits for the next SPICE refresh" in s and "one per 60 min" in s for s in skips)
        # The cursor stays two numbers however long the burst.
        assert set(json.loads(cursor)) == {"seen", "requested_at"}


def test_new_parquet_goes_to_a_refresh_waiting_to_start():
    with dg.instance_for_test() as instance:
        compacted(instance, "2026/11/27/09")
        first = tick(instance, EMBEDDED, None)
        (request,) = first.run_requests
        # The requested refresh is waiting in the queue when the next hour is compacted: it
        # reads every curated file when it starts, so no second refresh queues behind it.
        run_id = add_run(instance, refresh_spice_job.name, dg.DagsterRunStatus.NOT_STARTED)
        compacted(instance, "2026/11/27/10")
        folded = tick(instance, EMBEDDED, first.cursor)
        assert not list(folded.run_requests)
        assert run_id in folded.skip_message
        assert tick(instance, EMBEDDED, folded.cursor).run_requests == []  # nothing held back

        # Once it has started, it may have read the files already: the next Parquet needs one.
        instance.report_run_failed(instance.get_run_by_id(run_id))
        compacted(instance, "2026/11/27/11")
        (again,) = tick(instance, EMBEDDED, folded.cursor).run_requests
        assert again.run_key != request.run_key


def test_embedded_paces_refreshes_while_landing_runs_are_in_flight():
    with dg.instance_for_test() as instance:
        compacted(instance, "2026/11/27/09")
        first = tick(instance, EMBEDDED, None)
        assert len(first.run_requests) == 1
        # A replay: a landing run is running when the next hour's Parquet is written.
        landing = add_run(
            instance, process_landing_job.name, dg.DagsterRunStatus.STARTED, "2026/11/27/10"
        )
        compacted(instance, "2026/11/27/10")
        held = tick(instance, EMBEDDED, first.cursor)
        assert not list(held.run_requests)
        assert "while a replay or landing runs are in flight" in held.skip_message
        assert landing in held.skip_message

        # The burst is over: the last compaction's refresh is not held back.
        instance.report_run_failed(instance.get_run_by_id(landing))
        (request,) = tick(instance, EMBEDDED, held.cursor).run_requests
        assert request.run_key != first.run_requests[0].run_key


@pytest.mark.parametrize("replay_job", [replay_transactions_job, replay_part_job])
def test_embedded_paces_refreshes_while_a_replay_is_in_flight(replay_job):
    with dg.instance_for_test() as instance:
        compacted(instance, "2026/11/27/09")
        first = tick(instance, EMBEDDED, None)
        assert len(first.run_requests) == 1
        # Between two landing runs of a replay no landing run is in flight, but the replay is.
        replay = add_run(instance, replay_job.name, dg.DagsterRunStatus.STARTED)
        compacted(instance, "2026/11/27/10")
        held = tick(instance, EMBEDDED, first.cursor)
        assert not list(held.run_requests)
        assert replay in held.skip_message

        instance.report_run_failed(instance.get_run_by_id(replay))
        assert len(tick(instance, EMBEDDED, held.cursor).run_requests) == 1


def test_coalescing_holds_later_parquet_until_the_interval_passes():
    first = coalesce(None, 5, now=1000.0, min_interval_s=3600)
    assert first.run_key == "compaction:5"
    held = coalesce(first.cursor, 9, now=1000.0 + 3599, min_interval_s=3600)
    assert (held.run_key, held.cursor) == (None, first.cursor)
    # The held compactions are not dropped: the first tick after the interval covers them.
    due = coalesce(held.cursor, 9, now=1000.0 + 3600, min_interval_s=3600)
    assert due.run_key == "compaction:9"
    assert json.loads(due.cursor) == {"seen": 9, "requested_at": 4600.0}
    # A cursor saved by the earlier asset_sensor (a bare storage id) carries over.
    assert coalesce("9", 9, now=0.0, min_interval_s=3600).run_key is None
    assert coalesce("9", 10, now=0.0, min_interval_s=3600).run_key == "compaction:10"
    idle = coalesce(due.cursor, 9, now=99999.0, min_interval_s=3600)
    assert (idle.run_key, idle.reason) == (None, "no new Parquet since the last SPICE refresh")


def test_the_minimum_interval_is_a_setting(on_aws, monkeypatch):
    monkeypatch.setenv("TXVIZ_SPICE_MIN_REFRESH_INTERVAL_MINUTES", "0")
    with dg.instance_for_test() as instance:
        cursor = None
        for hour in ("2026/11/27/09", "2026/11/27/10"):
            compacted(instance, hour)
            result = tick(instance, on_aws, cursor)
            assert len(result.run_requests) == 1
            cursor = result.cursor


def test_quarter_hourly_schedule_refreshes_the_local_spice_only(on_aws):
    with dg.instance_for_test() as instance:
        with dg.build_schedule_context(instance=instance, resources={"aws": EMBEDDED}) as local:
            assert len(quarter_hourly_spice_schedule.evaluate_tick(local).run_requests) == 1
        with dg.build_schedule_context(instance=instance, resources={"aws": on_aws}) as aws:
            result = quarter_hourly_spice_schedule.evaluate_tick(aws)
        assert result.run_requests == []
        assert "follow compaction (compaction_sensor)" in result.skip_message
