import json
import random
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from txviz_pipeline.landing.scanner import (
    SeenKeys,
    key_digest,
    normalise_key,
    partition_of,
    recent_partitions,
    s3_lister,
    scan_landing,
)

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def firehose_key(hour: str, second: int, suffix: str, prefix: str = "landing/") -> str:
    y, m, d, h = hour.split("/")
    return f"{prefix}{hour}/txviz-transactions-1-{y}-{m}-{d}-{h}-00-{second:02d}-{suffix}"


class FakeBucket:
    """Keys and their LastModified; a key appended without one was modified a minute ago."""

    def __init__(self):
        self.keys: list[str] = []
        self.modified: dict[str, datetime] = {}

    def put(self, key: str, modified: datetime) -> None:
        self.keys.append(key)
        self.modified[key] = modified

    def list_keys(self, prefix: str):
        listed = sorted(k for k in self.keys if k.startswith(prefix))
        return [(k, self.modified.get(k, NOW - timedelta(minutes=1))) for k in listed]


def test_recent_partitions_cover_lookback_oldest_first():
    assert recent_partitions(NOW, 2) == ["2026/11/27/07", "2026/11/27/08", "2026/11/27/09"]


def test_recent_partitions_are_utc_hours_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        india = timezone(timedelta(hours=5, minutes=30))
        assert recent_partitions(NOW.astimezone(india), 1) == ["2026/11/27/08", "2026/11/27/09"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_partition_of_landing_and_error_keys():
    assert partition_of(firehose_key("2026/11/27/09", 1, "a")) == "2026/11/27/09"
    err = firehose_key("2026/11/27/09", 1, "a", prefix="errors/processing-failed/")
    assert partition_of(err) == "2026/11/27/09"
    quarantined = firehose_key("2026/11/27/09", 1, "a", prefix="quarantine/")
    assert partition_of(quarantined) == "2026/11/27/09"
    assert partition_of("landing/not-a-date/x") is None
    assert partition_of("curated/transactions/x") is None


def test_directory_markers_skipped_and_event_keys_decoded():
    assert normalise_key("landing/2026/11/27/09/") is None
    assert normalise_key("") is None
    encoded = "landing%2F2026%2F11%2F27%2F09%2Fa+b%3Dc"
    assert normalise_key(encoded, url_encoded=True) == "landing/2026/11/27/09/a b=c"
    # Listed keys are already decoded: a literal "+" stays a "+".
    assert normalise_key("landing/2026/11/27/09/a+b") == "landing/2026/11/27/09/a+b"


def test_same_second_burst_every_key_seen_exactly_once():
    """2,500 keys in the same second with random suffixes, listed between writes: none missed."""
    rng = random.Random(7)
    bucket = FakeBucket()
    hour = "2026/11/27/09"
    written: list[str] = []
    seen: list[str] = []
    cursor = None
    for _tick in range(25):
        for _ in range(100):
            key = firehose_key(hour, 5, f"{rng.getrandbits(128):032x}")
            bucket.keys.append(key)
            written.append(key)
        result = scan_landing(bucket.list_keys, cursor, now=NOW)
        cursor = result.cursor
        seen.extend(result.new_keys.get(hour, []))
    assert len(seen) == len(written) == 2500
    assert sorted(seen) == sorted(written)
    # One more scan with nothing new finds nothing, and the cursor survives a round trip.
    again = scan_landing(bucket.list_keys, json.loads(json.dumps(cursor)), now=NOW)
    assert again.new_count == 0


def test_cursor_forgets_hours_outside_lookback():
    bucket = FakeBucket()
    bucket.keys.append(firehose_key("2026/11/27/05", 1, "old"))
    bucket.keys.append(firehose_key("2026/11/27/09", 1, "new"))
    result = scan_landing(bucket.list_keys, None, now=NOW, lookback_hours=2)
    assert list(result.new_keys) == ["2026/11/27/09"]
    seen = SeenKeys.from_cursor(result.cursor)
    assert seen.digests == {key_digest(firehose_key("2026/11/27/09", 1, "new"))}


def test_late_object_in_previous_hour_is_found():
    bucket = FakeBucket()
    first = scan_landing(bucket.list_keys, None, now=NOW)
    bucket.keys.append(firehose_key("2026/11/27/08", 59, "late"))
    second = scan_landing(bucket.list_keys, first.cursor, now=NOW)
    assert second.new_keys == {"2026/11/27/08": [firehose_key("2026/11/27/08", 59, "late")]}


def test_unknown_cursor_version_is_rejected():
    with pytest.raises(ValueError, match="cursor version 99"):
        SeenKeys.from_cursor('{"v": 99, "seen": ""}')


@pytest.mark.integration
def test_burst_of_s3_objects_on_moto_server(moto_settings):
    """2,000 real objects written within seconds to moto over HTTP; each seen once, none missed."""
    from txviz_pipeline import aws

    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    now = datetime.now(UTC)
    hour = now.strftime("%Y/%m/%d/%H")
    lister = s3_lister(s3, moto_settings.bucket)
    rng = random.Random(11)
    written, seen, cursor = [], [], None
    s3.put_object(Bucket=moto_settings.bucket, Key=f"landing/{hour}/", Body=b"")
    for _tick in range(8):
        for _ in range(250):
            key = firehose_key(hour, now.second, f"{rng.getrandbits(128):032x}")
            s3.put_object(Bucket=moto_settings.bucket, Key=key, Body=b"{}\n")
            written.append(key)
        result = scan_landing(lister, cursor, now=now)
        cursor = result.cursor
        seen.extend(k for keys in result.new_keys.values() for k in keys)
    assert len(written) == 2000
    assert sorted(seen) == sorted(written)


def test_key_digest_is_eight_bytes():
    # The cursor holds one digest per unsettled key: its size is the cursor's size.
    digest = key_digest(firehose_key("2026/11/27/09", 1, "a"))
    assert len(digest) == 8
    assert digest != key_digest(firehose_key("2026/11/27/09", 1, "b"))


@pytest.mark.integration
def test_s3_key_lister_lists_only_under_the_prefix(moto_settings):
    from txviz_pipeline import aws

    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    for key in ("landing/2026/11/27/09/a", "landing/2026/11/27/10/b", "curated/x"):
        s3.put_object(Bucket=moto_settings.bucket, Key=key, Body=b"{}\n")
    lister = s3_lister(s3, moto_settings.bucket)
    ((key, modified),) = lister("landing/2026/11/27/09/")
    assert key == "landing/2026/11/27/09/a"
    assert abs(modified - datetime.now(UTC)) < timedelta(minutes=5)


def test_oldest_hour_in_the_window_is_remembered():
    """The oldest hour still inside the lookback is kept in the cursor, so it is not re-reported."""
    bucket = FakeBucket()
    bucket.keys += [firehose_key("2026/11/27/07", 1, "a"), firehose_key("2026/11/27/09", 1, "b")]
    first = scan_landing(bucket.list_keys, None, now=NOW, lookback_hours=2)
    assert (first.new_count, first.listed) == (2, 2)
    assert " " not in first.cursor  # compact: the cursor is stored on every tick
    again = scan_landing(bucket.list_keys, first.cursor, now=NOW, lookback_hours=2)
    assert (again.new_count, again.listed) == (0, 2)


def test_a_marker_or_stray_key_from_the_lister_is_passed_over_not_the_rest():
    # Any ListKeys may hand back a folder marker or a key of another hour (a lister with a
    # looser prefix): the scan skips exactly those and still takes every key after them.
    hour = "2026/11/27/09"
    listed = [
        f"landing/{hour}/",
        firehose_key("2026/11/27/08", 1, "stray"),
        firehose_key(hour, 2, "a"),
    ]

    def list_keys(prefix: str):
        return [(k, None) for k in listed] if prefix == f"landing/{hour}/" else []

    result = scan_landing(list_keys, None, now=NOW)
    assert result.new_keys == {hour: [firehose_key(hour, 2, "a")]}


class Timeline:
    """Objects landing at a steady rate, each listed ``lag`` after its LastModified."""

    def __init__(self, per_hour: int, start: datetime, rng: random.Random, max_lag_s: float):
        self.per_hour, self.start, self.rng, self.max_lag_s = per_hour, start, rng, max_lag_s
        self.objects: list[tuple[datetime, datetime, str]] = []  # (visible, modified, key)

    def land_until(self, end: datetime) -> None:
        step = timedelta(hours=1) / self.per_hour
        t = self.objects[-1][1] + step if self.objects else self.start
        while t < end:
            key = firehose_key(t.strftime("%Y/%m/%d/%H"), t.second, f"{self.rng.getrandbits(64):x}")
            lag = timedelta(seconds=self.rng.uniform(0, self.max_lag_s))
            self.objects.append((t + lag, t, key))
            t += step

    def lister(self, now: datetime):
        by_prefix: dict[str, list] = {}
        for visible, modified, key in self.objects:
            if visible <= now:
                by_prefix.setdefault(key[: key.rindex("/") + 1], []).append((key, modified))
        return lambda prefix: sorted(by_prefix.get(prefix, []))


def test_cursor_stays_under_200_kb_at_100k_objects_an_hour_and_reports_each_once():
    # A day of the busiest stream txviz plans for would be 2.4M objects; the cursor holds only
    # those of the last SETTLE, ~11 bytes each (the whole window would be ~7.6 MB).
    timeline = Timeline(100_000, NOW - timedelta(minutes=15), random.Random(3), max_lag_s=120)
    cursor, reported, sizes = None, [], []
    for scan in range(4):
        now = NOW + timedelta(minutes=10 * scan)
        timeline.land_until(now)
        result = scan_landing(timeline.lister(now), cursor, now=now)
        cursor = result.cursor
        reported += [k for keys in result.new_keys.values() for k in keys]
        sizes.append(len(cursor))
    visible = [key for when, _, key in timeline.objects if when <= now]
    assert len(visible) > 70_000
    assert sorted(reported) == sorted(visible)  # every listed object reported exactly once
    assert max(sizes) < 200_000, sizes
    assert min(sizes) > 100_000  # it does hold the last SETTLE's objects


def test_an_object_listed_late_within_settle_is_still_reported():
    bucket = FakeBucket()
    first = scan_landing(bucket.list_keys, None, now=NOW)
    # Modified before the first scan, listed only after it (a PUT still in flight).
    late = firehose_key("2026/11/27/09", 28, "late")
    bucket.put(late, NOW - timedelta(minutes=2))
    second = scan_landing(bucket.list_keys, first.cursor, now=NOW + timedelta(minutes=15))
    assert second.new_keys == {"2026/11/27/09": [late]}
    # Settled now: the next cursor needs no digest to know it was reported.
    assert SeenKeys.from_cursor(second.cursor).digests == set()
    third = scan_landing(bucket.list_keys, second.cursor, now=NOW + timedelta(minutes=20))
    assert third.new_count == 0


def test_a_cursor_of_the_previous_version_reports_nothing_twice():
    bucket = FakeBucket()
    old = [firehose_key("2026/11/27/09", s, "old") for s in (1, 2)]
    for key in old:
        bucket.put(key, NOW - timedelta(minutes=20))
    v1 = json.dumps({"v": 1, "seen": {"2026/11/27/09": [key_digest(k).hex() for k in old]}})
    bucket.put(firehose_key("2026/11/27/09", 3, "new"), NOW - timedelta(minutes=1))
    result = scan_landing(bucket.list_keys, v1, now=NOW)
    assert result.new_keys == {"2026/11/27/09": [firehose_key("2026/11/27/09", 3, "new")]}
    assert json.loads(result.cursor)["v"] == 2


def test_a_limit_reports_the_oldest_first_then_by_key():
    bucket = FakeBucket()
    hour = "2026/11/27/09"
    a, b, c, e = (firehose_key(hour, 0, s) for s in "abce")
    # Listed after c (landing before errors) but first by key: the key breaks the tie.
    d = firehose_key(hour, 0, "d", prefix="errors/processing-failed/")
    # Key order is not age order: the newest object has the smallest key.
    for key, minutes in ((a, 1), (b, 5), (c, 3), (d, 3), (e, 4)):  # minutes before NOW
        bucket.put(key, NOW - timedelta(minutes=minutes))
    first = scan_landing(bucket.list_keys, None, now=NOW, limit=3)
    assert first.new_keys == {hour: sorted([b, e, d])}
    assert (first.new_count, first.deferred) == (3, 2)
    second = scan_landing(bucket.list_keys, first.cursor, now=NOW, limit=3)
    assert second.new_keys == {hour: [a, c]}
    assert second.deferred == 0


def test_without_a_limit_nothing_is_deferred():
    bucket = FakeBucket()
    for s in range(5):
        bucket.put(firehose_key("2026/11/27/09", s, "x"), NOW - timedelta(minutes=s))
    result = scan_landing(bucket.list_keys, None, now=NOW)
    assert (result.new_count, result.deferred) == (5, 0)


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        scan_landing(FakeBucket().list_keys, None, now=NOW, limit=0)


def test_limited_scans_report_every_key_exactly_once_while_objects_arrive():
    """A backlog read 7 keys a scan, across SETTLE, with same-second objects and arrivals
    between scans (some modified before objects already reported): each key once."""
    rng = random.Random(5)
    bucket = FakeBucket()
    start = NOW - timedelta(minutes=20)

    def land(count: int, modified: datetime) -> None:
        for _ in range(count):
            bucket.put(
                firehose_key(modified.strftime("%Y/%m/%d/%H"), 0, f"{rng.getrandbits(64):x}"),
                modified,
            )

    # The backlog: groups of 6 objects sharing each LastModified second.
    for second in range(0, 600, 30):
        land(6, start + timedelta(seconds=second))
    cursor, reported, now = None, [], NOW
    for scan in range(40):
        if scan % 3 == 0:
            land(4, now - timedelta(seconds=1))  # the stream goes on
        if scan == 30:
            # Listed late (within SETTLE), modified before objects already reported.
            land(3, now - timedelta(minutes=5))
        result = scan_landing(bucket.list_keys, cursor, now=now, limit=7)
        cursor = result.cursor
        reported += [k for keys in result.new_keys.values() for k in keys]
        now += timedelta(minutes=1)  # the backlog outlasts SETTLE: the floor must wait for it
        if result.deferred == 0 and scan >= 30:
            break
    assert result.deferred == 0
    assert len(reported) == len(set(reported))
    assert sorted(reported) == sorted(bucket.keys)


def test_the_span_of_each_hours_new_objects_is_reported():
    bucket = FakeBucket()
    for s, minutes in ((0, 7), (1, 2), (2, 4)):
        bucket.put(firehose_key("2026/11/27/09", s, "x"), NOW - timedelta(minutes=minutes))
    bucket.put(firehose_key("2026/11/27/08", 0, "y"), NOW - timedelta(minutes=9))
    result = scan_landing(bucket.list_keys, None, now=NOW)
    assert result.span == {
        "2026/11/27/09": (NOW - timedelta(minutes=7), NOW - timedelta(minutes=2)),
        "2026/11/27/08": (NOW - timedelta(minutes=9), NOW - timedelta(minutes=9)),
    }
    assert scan_landing(bucket.list_keys, result.cursor, now=NOW).span == {}
