"""The speed layer over moto server: SPICE ∪ fresh landing rows count every record exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from txviz_pipeline import aws
from txviz_pipeline.compaction import compact_partition
from txviz_pipeline.serving.snapshot import read_snapshot
from txviz_pipeline.serving.speed import SpeedLayer
from txviz_pipeline.serving.spice import refresh_local_spice
from txviz_pipeline.settings import LANDING_PREFIX
from txviz_pipeline_tests.compaction.records import landing_record, ndjson
from txviz_pipeline_tests.serving.curated import amount_total

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
OLD_HOUR, NEW_HOUR = "2026/11/27/08", "2026/11/27/09"


@pytest.fixture
def s3(moto_settings):
    client = aws.client("s3", moto_settings)
    client.create_bucket(Bucket=moto_settings.bucket)
    return client


def land(s3, bucket: str, hour: str, name: str, records) -> None:
    s3.put_object(Bucket=bucket, Key=f"{LANDING_PREFIX}{hour}/{name}", Body=ndjson(records))


def layer(s3, settings) -> SpeedLayer:
    return SpeedLayer(s3, settings.bucket, clock=lambda: NOW)


def compacted(settings, s3, records) -> None:
    """``records`` landed in OLD_HOUR, compacted and in the SPICE."""
    land(s3, settings.bucket, OLD_HOUR, "a", records)
    compact_partition(settings, OLD_HOUR)
    refresh_local_spice(settings)


def kpis(settings, speed):
    return read_snapshot(settings.spice_path, speed).panels["kpis"].iloc[0]


def assert_counts(row, records) -> None:
    assert int(row.transactions) == len(records)
    assert Decimal(str(row.amount_total)) == amount_total(records)
    assert int(row.fraud_count) == sum(r["is_fraud"] for r in records)
    assert int(row.flagged_count) == sum(r["fraud_flagged"] for r in records)


def get_object_counter(s3) -> list[str]:
    calls: list[str] = []
    s3.meta.events.register("before-call.s3.GetObject", lambda params, **_: calls.append(1))
    return calls


def test_landing_alone_counts_each_trans_num_once(moto_settings, s3):
    records = [landing_record(i) for i in range(40)]
    land(s3, moto_settings.bucket, NEW_HOUR, "a", records[:30])
    # At-least-once delivery: rows 20..39 arrive, 20..29 for the second time.
    land(s3, moto_settings.bucket, NEW_HOUR, "b", records[20:])

    snapshot = read_snapshot(moto_settings.spice_path, layer(s3, moto_settings))

    assert snapshot.refresh is None
    assert_counts(snapshot.panels["kpis"].iloc[0], records)
    assert snapshot.speed.fresh_rows == 40


def test_no_spice_and_no_landing_is_no_snapshot(moto_settings, s3):
    assert read_snapshot(moto_settings.spice_path, layer(s3, moto_settings)) is None


def test_compacted_and_fresh_rows_count_once_as_compaction_catches_up(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(200)]
    compacted(moto_settings, s3, records[:100])
    # Rows 50..99 land again an hour later (a resend), 100..159 are new, 100..119 twice.
    land(s3, bucket, NEW_HOUR, "b", records[50:130])
    land(s3, bucket, NEW_HOUR, "c", records[100:160])
    speed = layer(s3, moto_settings)

    first = read_snapshot(moto_settings.spice_path, speed)
    assert_counts(first.panels["kpis"].iloc[0], records[:160])
    assert first.speed.fresh_rows == 60
    assert int(first.refresh["rows"]) == 100

    # Compaction folds the new hour in: the same records, now all from the SPICE.
    compact_partition(moto_settings, NEW_HOUR)
    refresh_local_spice(moto_settings)
    second = read_snapshot(moto_settings.spice_path, speed)
    assert_counts(second.panels["kpis"].iloc[0], records[:160])
    assert (second.speed.fresh_rows, second.speed.pending_objects) == (0, 0)
    assert second.speed.folded_objects == 3

    # More lands in the compacted hour: new rows 160..199 and, once more, 150..159.
    land(s3, bucket, NEW_HOUR, "d", records[150:])
    third = read_snapshot(moto_settings.spice_path, speed)
    assert_counts(third.panels["kpis"].iloc[0], records)
    assert third.speed.fresh_rows == 40


def test_an_hour_compacted_during_refreshes_never_counts_twice(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(300)]
    compacted(moto_settings, s3, records[:150])
    land(s3, bucket, NEW_HOUR, "b", records[100:300])
    land(s3, bucket, NEW_HOUR, "c", records[250:300])
    speed = layer(s3, moto_settings)
    stop = threading.Event()
    compactions: list[int] = []

    def compact_again_and_again() -> None:
        while not stop.is_set():
            compact_partition(moto_settings, NEW_HOUR)
            refresh_local_spice(moto_settings)
            compactions.append(1)

    worker = threading.Thread(target=compact_again_and_again)
    worker.start()
    try:
        seen = []
        while len(compactions) < 3 or len(seen) < 10:
            row = kpis(moto_settings, speed)
            seen.append(int(row.transactions))
            assert_counts(row, records)
    finally:
        stop.set()
        worker.join(timeout=60)
    assert not worker.is_alive()
    assert set(seen) == {300}


def test_each_refresh_reads_only_new_objects_in_the_window(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(30)]
    land(s3, bucket, "2026/11/27/06", "too-old", records[:10])
    land(s3, bucket, NEW_HOUR, "a", records[10:20])
    speed = layer(s3, moto_settings)
    fetched = get_object_counter(s3)

    assert_counts(kpis(moto_settings, speed), records[10:20])
    assert len(fetched) == 1
    assert_counts(kpis(moto_settings, speed), records[10:20])
    assert len(fetched) == 1
    land(s3, bucket, NEW_HOUR, "b", records[20:])
    assert_counts(kpis(moto_settings, speed), records[10:])
    assert len(fetched) == 2


def test_bad_lines_are_counted_and_left_out(moto_settings, s3):
    records = [landing_record(i) for i in range(5)]
    body = ndjson(records) + b'{"trans_num": "x"}\nnot json\n'
    s3.put_object(Bucket=moto_settings.bucket, Key=f"{LANDING_PREFIX}{NEW_HOUR}/a", Body=body)

    snapshot = read_snapshot(moto_settings.spice_path, layer(s3, moto_settings))

    assert_counts(snapshot.panels["kpis"].iloc[0], records)
    assert snapshot.speed.bad_lines == 2


def test_hours_that_leave_the_window_are_forgotten(moto_settings, s3):
    records = [landing_record(i) for i in range(10)]
    land(s3, moto_settings.bucket, NEW_HOUR, "a", records)
    now = [NOW]
    speed = SpeedLayer(s3, moto_settings.bucket, window_hours=2, clock=lambda: now[0])

    assert read_snapshot(moto_settings.spice_path, speed).speed.fresh_rows == 10
    now[0] = NOW + timedelta(hours=1)
    assert read_snapshot(moto_settings.spice_path, speed).speed.fresh_rows == 10
    now[0] = NOW + timedelta(hours=2)
    assert read_snapshot(moto_settings.spice_path, speed) is None
