import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from txviz_pipeline import aws
from txviz_pipeline.landing.reconcile import (
    Reconciliation,
    _failed_rows,
    dataset_row_ids,
    reconcile_replay,
)
from txviz_pipeline_tests.compaction.records import (
    landing_record,
    processing_failed_line,
    quarantine_line,
)


def landing_line(row_id: int, replay_id: str | None) -> bytes:
    return orjson.dumps(landing_record(row_id, replay_id=replay_id))


@pytest.mark.integration
def test_every_row_is_accounted_for_and_missing_ones_are_named(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    now = datetime.now(UTC)
    hour = now.strftime("%Y/%m/%d/%H")
    put = lambda key, lines: s3.put_object(  # noqa: E731
        Bucket=bucket, Key=key, Body=b"\n".join(lines) + b"\n"
    )
    reconcile = lambda: reconcile_replay(  # noqa: E731
        s3,
        bucket,
        replay_id="r1",
        expected_row_ids=list(range(12)),
        started_at=now - timedelta(minutes=5),
        now=now,
    )
    # Replay "r1" covers rows 0..11: 0-5 land (3 twice), 6-7 are quarantined by the processor
    # (6 twice), 10 is in a failed invocation, 8 and 11 are dead-lettered by the replay, 9 is
    # lost. Replay "r2" also landed and quarantined row 9: it must not count.
    put(f"landing/{hour}/a", [landing_line(i, "r1") for i in (0, 1, 2, 3)])
    put(f"landing/{hour}/b", [landing_line(i, "r1") for i in (3, 4, 5)])
    put(f"landing/{hour}/c", [landing_line(9, "r2"), landing_line(9, None)])
    put(
        f"quarantine/{hour}/q",
        [
            quarantine_line(6, "r1", "bad_value: amt is negative"),
            quarantine_line(7, "r1", "bad_type: amt is a string, expected a number"),
            quarantine_line(6, "r1", "bad_value: amt is negative"),  # redelivered
            quarantine_line(9, "r2", "bad_value: amt is negative"),
            orjson.dumps({"reason": "invalid_json: x", "size_bytes": 3}),  # no row to name
        ],
    )
    put(f"errors/processing-failed/{hour}/e", [processing_failed_line(10, "r1", "Lambda.x: y")])
    put(
        "errors/replay-failed/r1/rows-8-12.ndjson",
        [orjson.dumps({"row_id": 8, "reason": "x"}), orjson.dumps({"row_id": 11})],
    )

    result = reconcile()
    assert (result.rows, result.sent, result.dead_lettered, result.resent) == (12, 10, 2, 0)
    assert (result.landed_ok, result.quarantined, result.processing_failed) == (6, 2, 1)
    assert result.dropped == 0
    assert result.duplicates == 2  # row 3 landed twice, row 6 was quarantined twice
    assert result.missing == [9]
    assert not result.reconciles
    assert result.describe() == (
        "replay r1: 12 rows = 10 sent + 2 dead-lettered; sent = 6 Ok + 2 quarantined + "
        "1 processing-failed + 0 dropped; MISSING 1 rows: row_id 9"
    )
    assert result.failure_reasons == {"bad_value": 1, "bad_type": 1, "Lambda.x": 1}

    # Row 9 turns up; dead-lettered rows 8 and 11 are re-sent under the same replay: 8 lands,
    # 11 is quarantined. Each counts once, where it ended up.
    put(f"landing/{hour}/d", [landing_line(9, "r1"), landing_line(8, "r1")])
    put(f"quarantine/{hour}/r", [quarantine_line(11, "r1", "bad_value: zip is not a 3-5 digit")])
    again = reconcile()
    assert again.reconciles and again.missing == []
    assert (again.sent, again.dead_lettered, again.resent) == (12, 0, 2)
    assert (again.landed_ok, again.quarantined, again.processing_failed) == (8, 3, 1)
    assert again.sent == again.landed_ok + again.quarantined + again.processing_failed
    assert again.describe().endswith("0 dropped (2 re-sent after dead-lettering)")


def test_dataset_row_ids_follow_the_parts(tmp_path):
    (tmp_path / "part-00000.ndjson").write_bytes(b'{"row_id":0,"a":1}\n{"row_id":2,"a":1}\n')
    (tmp_path / "part-00001.ndjson").write_bytes(b'{"row_id": 5, "a": 1}\n')
    (tmp_path / "manifest.json").write_bytes(
        orjson.dumps({"parts": [{"name": "part-00000.ndjson"}, {"name": "part-00001.ndjson"}]})
    )
    assert dataset_row_ids(tmp_path, 3) == [0, 2, 5]
    assert dataset_row_ids(tmp_path, 2) == [0, 2]


def test_failed_rows_read_past_blank_foreign_and_broken_lines():
    """One error object mixes replays, blank lines and damage: every line of this replay counts."""
    long_reason = "x" * 100 + ": detail"
    no_reason = {"rawData": base64.b64encode(b'{"row_id": 3, "replay_id":"r1"}').decode()}
    body = b"\n".join(
        [
            processing_failed_line(1, "other", "bad_value: a"),
            b"",
            b"{not json",
            orjson.dumps({"errorMessage": "no raw data"}),
            processing_failed_line(2, "r1", long_reason),
            orjson.dumps(no_reason),
        ]
    )
    assert _failed_rows([body], "r1") == [(2, "x" * 80), (3, "no reason given")]


def test_describe_names_at_most_twenty_missing_rows():
    result = Reconciliation(replay_id="r1", rows=30, sent=30, landed_ok=5, missing=list(range(25)))
    shown = ", ".join(map(str, range(20)))
    assert result.describe() == (
        "replay r1: 30 rows = 30 sent + 0 dead-lettered; sent = 5 Ok + 0 quarantined + "
        f"0 processing-failed + 0 dropped; MISSING 25 rows: row_id {shown} and 5 more"
    )
    result.missing = list(range(20))
    assert result.describe().endswith(f"MISSING 20 rows: row_id {shown}")


@pytest.mark.integration
def test_long_replay_finds_rows_landed_in_its_first_hour(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    now = datetime.now(UTC)
    started_at = now - timedelta(hours=5)
    first_hour = started_at.strftime("%Y/%m/%d/%H")
    s3.put_object(
        Bucket=moto_settings.bucket, Key=f"landing/{first_hour}/a", Body=landing_line(0, "r1")
    )
    s3.put_object(
        Bucket=moto_settings.bucket,
        Key=f"landing/{now.strftime('%Y/%m/%d/%H')}/b",
        Body=landing_line(1, "r1"),
    )
    result = reconcile_replay(
        s3,
        moto_settings.bucket,
        replay_id="r1",
        expected_row_ids=[0, 1],
        started_at=started_at,
        now=now,
    )
    assert result.reconciles, result.describe()
