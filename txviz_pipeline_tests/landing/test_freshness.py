from datetime import UTC, datetime, timedelta

import pytest

from txviz_pipeline.landing.freshness import Freshness

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
def test_newest_landing_object_read_from_s3(moto_settings):
    from txviz_pipeline import aws
    from txviz_pipeline.landing.freshness import assess_freshness

    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    nothing = assess_freshness(s3, moto_settings.bucket, an_hour_ago, max_silence=FIVE_MIN)
    assert nothing.newest_object_at is None and nothing.stale
    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/", Body=b"")
    s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/obj", Body=b"{}\n")
    landed = assess_freshness(s3, moto_settings.bucket, an_hour_ago, max_silence=FIVE_MIN)
    assert landed.newest_object_at is not None and not landed.stale
