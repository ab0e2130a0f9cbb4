"""Is the landing zone still receiving data while a replay is sending it?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from txviz_pipeline.landing.scanner import recent_partitions
from txviz_pipeline.s3objects import iter_objects
from txviz_pipeline.settings import LANDING_PREFIX


@dataclass(frozen=True)
class Freshness:
    newest_object_at: datetime | None
    silence: timedelta | None  # time since the newest object, None when nothing landed
    replay_running_since: datetime | None
    max_silence: timedelta
    checked_at: datetime

    @property
    def stale(self) -> bool:
        """True when a replay has run longer than ``max_silence`` and nothing landed that long."""
        if self.replay_running_since is None:
            return False
        silence = self.silence if self.silence is not None else timedelta.max
        replay_age = self.checked_at - self.replay_running_since
        return replay_age > self.max_silence and silence > self.max_silence

    def describe(self) -> str:
        if self.replay_running_since is None:
            return "no replay running"
        if self.newest_object_at is None:
            return "a replay is running and nothing has landed in the last hours"
        return f"newest landing object is {self.silence.total_seconds():.0f}s old"


def newest_landing_object(s3, bucket: str, now: datetime, lookback_hours: int = 2):
    """LastModified of the newest object under the recent landing hours, or None."""
    newest = None
    for partition in recent_partitions(now, lookback_hours):
        for obj in iter_objects(s3, bucket, f"{LANDING_PREFIX}{partition}/"):
            if newest is None or obj.last_modified > newest:
                newest = obj.last_modified
    return newest


def assess_freshness(
    s3,
    bucket: str,
    replay_running_since: datetime | None,
    *,
    max_silence: timedelta,
    now: datetime | None = None,
) -> Freshness:
    now = now or datetime.now(UTC)
    newest = newest_landing_object(s3, bucket, now)
    return Freshness(
        newest_object_at=newest,
        silence=(now - newest) if newest else None,
        replay_running_since=replay_running_since,
        max_silence=max_silence,
        checked_at=now,
    )
