"""The alert sensors, evaluated as the daemon does, against moto server and a real instance:
one alert per failing (check, partition), repeats held back for the cool-down, "resolved" when
the check passes, and an alert for a failed run."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.alerts import fraud
from txviz_pipeline.alerts.store import open_alerts, recent_alerts
from txviz_pipeline.definitions import defs
from txviz_pipeline.defs.alerts.sensors import (
    check_evaluation_sensor,
    fraud_activity_sensor,
    run_failure_alert_sensor,
)
from txviz_pipeline.defs.partitions import landing_hours
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.settings import ALERT_COOLDOWN_ENV, DAGSTER_URL_ENV
from txviz_pipeline_tests.support.alerts import receive, subscribe_queue

ASSET = dg.AssetKey("landing_transactions")
CHECK = "bad_record_rate_below_threshold"
HOUR = "2026/12/01/06"


@pytest.fixture
def alerting(moto_settings, monkeypatch):
    """The bucket, the alerts topic and its subscribed queue; links to a UI on port 3999."""
    monkeypatch.setenv(DAGSTER_URL_ENV, "http://dagster.example:3999/")
    aws.client("s3", moto_settings).create_bucket(Bucket=moto_settings.bucket)
    return moto_settings, subscribe_queue(moto_settings)


def report(instance, passed: bool, rate: float, partition: str = HOUR) -> str:
    """A landing run of ``partition`` whose bad-record check passes or warns; its run id."""

    @dg.asset(
        name=ASSET.path[0],
        partitions_def=landing_hours,
        check_specs=[dg.AssetCheckSpec(CHECK, asset=ASSET)],
    )
    def landing():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(
            check_name=CHECK,
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=f"{rate:.0%} of records are bad",
            metadata={"bad_record_rate": rate, "threshold": 0.05, "examples": "line 3: x"},
        )

    return dg.materialize([landing], instance=instance, partition_key=partition).run_id


def tick(instance, cursor):
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"aws": AwsResource()},
        definitions=defs(),
    )
    result = check_evaluation_sensor(context)
    return result


@pytest.mark.integration
def test_a_failing_check_alerts_once_per_cool_down_and_resolves(alerting):
    settings, queue = alerting
    with dg.instance_for_test() as instance:
        first = tick(instance, None)
        assert "0 new evaluations, no alert" in first.skip_reason.skip_message

        run_id = report(instance, passed=False, rate=0.33)
        second = tick(instance, first.cursor)
        [message] = receive(settings, queue)
        assert message["attributes"] == {
            "severity": "WARN",
            "kind": "data_quality",
            "asset": "landing_transactions",
            "check": CHECK,
            "partition": HOUR,
            "status": "open",
        }
        assert message["Subject"] == f"[txviz WARN] {CHECK} warned on landing_transactions {HOUR}"
        body = message["Message"]
        assert "33% of records are bad" in body
        assert "  bad_record_rate: 0.33\n  threshold: 0.05\n" in body
        assert "repeats_held_back_for_minutes: 30.0" in body
        assert "examples" not in body and "line 3" not in body
        assert f"In Dagster: http://dagster.example:3999/runs/{run_id}\n" in body

        # The same evaluation is never alerted twice; a second failure is held back.
        assert "1 new" not in (tick(instance, second.cursor).skip_reason.skip_message)
        report(instance, passed=False, rate=0.4)
        third = tick(instance, second.cursor)
        assert "1 new evaluations, no alert (1 held back" in third.skip_reason.skip_message
        # Another hour of the same check is another alert.
        report(instance, passed=False, rate=0.2, partition="2026/12/01/07")
        fourth = tick(instance, third.cursor)
        [other_hour] = receive(settings, queue)
        assert other_hour["attributes"]["partition"] == "2026/12/01/07"

        report(instance, passed=True, rate=0.01)
        fifth = tick(instance, fourth.cursor)
        [resolved] = receive(settings, queue)
        assert resolved["attributes"]["status"] == "resolved"
        assert resolved["attributes"]["partition"] == HOUR
        assert resolved["Subject"] == (
            f"[txviz RESOLVED] {CHECK} passes again on landing_transactions {HOUR}"
        )
        # Passing again with nothing open says nothing.
        report(instance, passed=True, rate=0.0)
        assert tick(instance, fifth.cursor).skip_reason
        assert receive(settings, queue) == []

    stored = recent_alerts(settings)
    assert [(a["partition"], a["status"]) for a in stored] == [
        (HOUR, "resolved"),
        ("2026/12/01/07", "open"),
        (HOUR, "open"),
    ]
    assert [a["partition"] for a in open_alerts(settings)] == ["2026/12/01/07"]


@pytest.mark.integration
def test_after_the_cool_down_a_still_failing_check_alerts_again(alerting, monkeypatch):
    settings, queue = alerting
    monkeypatch.setenv(ALERT_COOLDOWN_ENV, "0")
    with dg.instance_for_test() as instance:
        report(instance, passed=False, rate=0.33)
        cursor = tick(instance, None).cursor
        report(instance, passed=False, rate=0.34)
        tick(instance, cursor)
        messages = receive(settings, queue)
    assert [m["attributes"]["status"] for m in messages] == ["open", "open"]


@pytest.mark.integration
def test_first_tick_ignores_old_history(alerting):
    settings, queue = alerting
    with dg.instance_for_test() as instance:
        report(instance, passed=False, rate=0.33)
        with pytest.MonkeyPatch.context() as patch:
            # Seen from two hours later, the evaluation is history, not news.
            later = datetime.now(UTC).timestamp() + 7200
            patch.setattr("txviz_pipeline.defs.alerts.sensors.time.time", lambda: later)
            result = tick(instance, None)
        assert "1 new evaluations, no alert" in result.skip_reason.skip_message
    assert receive(settings, queue) == []


@pytest.mark.integration
def test_a_check_evaluated_by_a_sensor_links_to_the_check(alerting):
    settings, queue = alerting
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(
                asset_key=ASSET,
                check_name="landing_fresh_during_replay",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                description="newest landing object is 400s old",
            )
        )
        tick(instance, None)
    [message] = receive(settings, queue)
    assert message["attributes"]["partition"] == "-"
    assert message["attributes"]["check"] == "landing_fresh_during_replay"
    assert (
        "In Dagster: http://dagster.example:3999/assets/landing_transactions"
        "?view=checks&checkDetail=landing_fresh_during_replay"
    ) in message["Message"]


@dg.asset
def failing_asset():
    raise RuntimeError("the landing zone is unreachable")


@pytest.mark.integration
def test_a_failed_run_raises_one_error_alert(alerting):
    settings, queue = alerting
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [failing_asset],
            instance=instance,
            raise_on_error=False,
            tags={"dagster/partition": HOUR},
        )
        run = instance.get_run_by_id(result.run_id)
        failure = (
            instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            .records[0]
            .event_log_entry.dagster_event
        )
        context = dg.build_run_status_sensor_context(
            sensor_name=run_failure_alert_sensor.name,
            dagster_event=failure,
            dagster_instance=instance,
            dagster_run=run,
            resources={"aws": AwsResource()},
        ).for_run_failure()
        run_failure_alert_sensor(context)

    [message] = receive(settings, queue)
    assert message["attributes"] == {
        "severity": "ERROR",
        "kind": "run_failure",
        "asset": "-",
        "check": "-",
        "partition": HOUR,
        "status": "open",
    }
    assert message["Subject"] == f"[txviz ERROR] __ephemeral_asset_job__ failed on {HOUR}"
    assert f"In Dagster: http://dagster.example:3999/runs/{result.run_id}" in message["Message"]
    assert "failing_asset" in message["Message"]


def landing_line(token: str, flagged: bool, category: str = "misc_net") -> bytes:
    """A landing line's tallied fields: the model flagged it (or not) with a score under 0.5."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'{{"processed_at": "{now}", "fraud_score": 0.2, "fraud_flagged": {int(flagged)}, '
        f'"card_token": "{token}", "category": "{category}", "state": "TX"}}\n'
    ).encode()


@pytest.mark.integration
def test_fraud_sensor_alerts_on_a_card_burst_once(alerting, monkeypatch):
    settings, queue = alerting
    # Only the card rule: spikes need more flags than this test sends.
    monkeypatch.setenv("TXVIZ_FRAUD_MIN_FLAGGED", "100")
    s3 = aws.client("s3", settings)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    body = b"".join(landing_line("tok-burst", True) for _ in range(3))
    body += landing_line("tok-calm", True) + landing_line("tok-calm", False)
    s3.put_object(Bucket=settings.bucket, Key=f"landing/{hour}/obj-1", Body=body)
    # Quarantined records are not landing records: never tallied.
    s3.put_object(Bucket=settings.bucket, Key=f"quarantine/{hour}/q-1", Body=body)

    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"aws": AwsResource()})
        first = fraud_activity_sensor(context)
        context = dg.build_sensor_context(
            instance=instance, cursor=first.cursor, resources={"aws": AwsResource()}
        )
        again = fraud_activity_sensor(context)
    assert again.skip_reason.skip_message == "0 new landing records, no fraud alert"
    [message] = receive(settings, queue)
    assert message["attributes"] == {
        "severity": "ERROR",
        "kind": "card_burst",
        "asset": "landing_transactions",
        "check": "-",
        "partition": "card_token=tok-burst",
        "status": "open",
    }
    assert "3 transactions of card token tok-burst were flagged" in message["Message"]
    assert "burst_flags: 3\n  burst_minutes: 10" in message["Message"]


@pytest.mark.integration
def test_fraud_sensor_reads_a_backlog_in_batches_each_record_once(alerting, monkeypatch):
    settings, queue = alerting
    monkeypatch.setattr("txviz_pipeline.defs.alerts.sensors.FRAUD_OBJECTS_PER_TICK", 3)
    s3 = aws.client("s3", settings)
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")

    def land(name: str, records: int, prefix: str = "landing/") -> None:
        body = b"".join(landing_line(f"tok-{name}-{i}", False) for i in range(records))
        s3.put_object(Bucket=settings.bucket, Key=f"{prefix}{hour}/{name}", Body=body)

    # Written within a second or two: most share their LastModified second.
    for n in range(7):
        land(f"obj-{n}", n + 1)
    land("q-1", 5, prefix="quarantine/")  # counted in a tick's batch, never tallied
    cursor, messages = None, []
    with dg.instance_for_test() as instance:
        for tick_number in range(6):
            if tick_number == 1:
                land("obj-late", 10)  # arrives while the backlog is read
            context = dg.build_sensor_context(
                instance=instance, cursor=cursor, resources={"aws": AwsResource()}
            )
            result = fraud_activity_sensor(context)
            cursor = result.cursor
            messages.append(result.skip_reason.skip_message)
    assert messages[0] == (
        "6 new landing records from 3 objects, no fraud alert; 5 objects left for the next ticks"
    )
    assert "left for the next ticks" in messages[1]
    assert messages[-1] == "0 new landing records, no fraud alert"
    tallied = sum(int(m.split()[0]) for m in messages)
    counts = fraud.FraudState.from_cursor(cursor).tallies.counts["all"]["all"]
    assert tallied == sum(n for n, _flagged in counts.values()) == sum(range(1, 8)) + 10
    assert receive(settings, queue) == []
