from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from txviz_pipeline import aws
from txviz_pipeline.landing.freshness import Freshness, assess_freshness

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
FIVE_MIN = timedelta(minutes=5)


def freshness(newest_age_s, replay_age_s) -> Freshness:
    return Freshness(
        newest_object_at=None if newest_age_s is None else NOW - timedelta(seconds=newest_age_s),
        silence=None if newest_age_s is None else timedelta(seconds=newest_age_s),
        replay_running_since=None
        if replay_age_s is None
        else NOW - timedelta(seconds=replay_age_s),
        max_silence=FIVE_MIN,
        checked_at=NOW,
    )


@pytest.mark.parametrize(
    ("newest_age_s", "replay_age_s", "stale"),
    [
        (10, 600, False),  # data is flowing
        (400, 600, True),  # replay running, nothing for > 5 min
        (None, 600, True),  # replay running, nothing at all
        (None, 60, False),  # replay just started: give it time
        (4000, None, False),  # no replay: silence is expected
    ],
)
def test_stale_only_while_a_replay_runs(newest_age_s, replay_age_s, stale):
    assert freshness(newest_age_s, replay_age_s).stale is stale


@pytest.mark.integration
def test_sensor_warns_when_a_running_replay_lands_nothing(moto_settings, monkeypatch):
    from txviz_pipeline.defs.landing import freshness as defs_freshness
    from txviz_pipeline.defs.resources import AwsResource

    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    assert assess_freshness(s3, moto_settings.bucket, None).newest_object_at is None
    monkeypatch.setattr(
        defs_freshness, "running_replay_since", lambda _i: datetime.now(UTC) - timedelta(hours=1)
    )
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, resources={"aws": AwsResource()})
        result = defs_freshness.landing_freshness_sensor(context)
        (event,) = result.asset_events
        assert event.check_name == "landing_fresh_during_replay"
        assert not event.passed
        assert event.severity == dg.AssetCheckSeverity.WARN
        assert result.cursor == "stale"
        hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
        s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj", Body=b"{}\n")
        context = dg.build_sensor_context(
            instance=instance, cursor="stale", resources={"aws": AwsResource()}
        )
        result = defs_freshness.landing_freshness_sensor(context)
        assert result.cursor == "fresh"
        assert result.asset_events[0].passed
