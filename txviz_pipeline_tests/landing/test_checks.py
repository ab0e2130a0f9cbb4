import orjson
import pytest

from txviz_pipeline import aws
from txviz_pipeline.landing.checks import read_partition
from txviz_pipeline.schema import LANDING_FIELDS

HOUR = "2026/11/27/09"


def landing_record(trans_num: str = "a" * 32, **overrides) -> dict:
    samples = {
        "string": "x",
        "string?": None,
        "int64": 1,
        "float64": 1.5,
        "list<string>": ["night_hours"],
    }
    record = {name: samples[kind] for name, kind in LANDING_FIELDS.items()}
    record["trans_num"] = trans_num
    record.update(overrides)
    return record


@pytest.mark.integration
def test_read_partition_tallies_every_line(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    lines = [
        orjson.dumps(landing_record("a" * 32)),
        orjson.dumps(landing_record("b" * 32)),
        orjson.dumps(landing_record("a" * 32)),  # an at-least-once duplicate
        b'{"not json',
        orjson.dumps(landing_record("c" * 32, amount="oops")),
    ]
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/", Body=b"")
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-1", Body=b"\n".join(lines[:3]) + b"\n")
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-2", Body=b"\n".join(lines[3:]) + b"\n")
    failed = [{"errorCode": "Lambda.ProcessingFailedStatus", "errorMessage": "unknown category: x"}]
    s3.put_object(
        Bucket=bucket,
        Key=f"errors/processing-failed/{HOUR}/err-1",
        Body=b"\n".join(orjson.dumps(f) for f in failed * 2) + b"\n",
    )
    s3.put_object(
        Bucket=bucket,
        Key=f"quarantine/{HOUR}/q-1",
        Body=orjson.dumps({"reason": "bad_value: amt is negative", "row_id": 4}) + b"\n\n",
    )
    report = read_partition(s3, bucket, HOUR)
    assert (report.objects, report.error_objects) == (2, 2)
    assert report.lines == 5
    assert report.records == 3
    assert report.duplicates == 1
    assert (report.unparseable, report.nonconforming) == (1, 1)
    assert (report.quarantined, report.processing_failed) == (1, 2)
    assert report.failure_reasons == {"unknown category": 2, "bad_value": 1}
    assert report.bad_record_rate == pytest.approx(5 / 8)
    assert any("does not parse" in e for e in report.examples)


@pytest.mark.integration
def test_read_partition_reads_past_blank_lines_and_names_where_lines_break(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    good = [orjson.dumps(landing_record(f"{i:032x}")) for i in range(3)]
    body = b"\n".join([b"{broken 1", good[0], b"", good[1], *[b"{broken"] * 6, good[2]])
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-1", Body=body + b"\n")
    report = read_partition(s3, bucket, HOUR)
    assert report.partition == HOUR
    assert (report.records, report.unparseable) == (3, 7)
    assert report.newest_object_at is not None
    assert len(report.examples) == 5
    assert report.examples[0].startswith(f"landing/{HOUR}/obj-1:1: does not parse")
    assert report.examples[1].startswith(f"landing/{HOUR}/obj-1:5: does not parse")


@pytest.mark.integration
def test_read_partition_counts_every_repeat_and_every_failure_reason(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    first, nonconforming = landing_record("a" * 32), landing_record("c" * 32, amount="oops")
    # The first record, then two at-least-once repeats of it among two nonconforming records.
    records = [first, nonconforming, first, nonconforming, first]
    lines = [orjson.dumps(r) for r in records]
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-1", Body=b"\n".join(lines) + b"\n")
    errors = [
        orjson.dumps({"errorMessage": "x" * 100 + ": detail"}),
        b"",
        orjson.dumps({"errorCode": "Lambda.ProcessingFailedStatus"}),
        b"{unreadable",
    ]
    for name in ("err-1", "err-2"):
        s3.put_object(
            Bucket=bucket,
            Key=f"errors/processing-failed/{HOUR}/{name}",
            Body=b"\n".join(errors) + b"\n",
        )
    report = read_partition(s3, bucket, HOUR)
    assert (report.records, report.duplicates, report.nonconforming) == (3, 2, 2)
    assert (report.error_objects, report.processing_failed) == (2, 6)
    assert report.failure_reasons == {
        "x" * 80: 2,
        "no reason given": 2,
        "unreadable error record": 2,
    }


@pytest.mark.integration
def test_read_partition_reads_only_what_compaction_has_not_merged(moto_settings):
    """A run checks its new objects; repeats are found against the hour's compacted rows."""
    from txviz_pipeline.compaction import compact_partition
    from txviz_pipeline.compaction.hourstate import HourStore

    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    first = [orjson.dumps(landing_record(c * 32)) for c in "ab"]
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-1", Body=b"\n".join(first) + b"\n")
    compact_partition(moto_settings, HOUR)
    # Delivered later: a repeat of a compacted record, a new one twice, and a broken line.
    later = [orjson.dumps(landing_record(c * 32)) for c in "acc"] + [b"{broken"]
    s3.put_object(Bucket=bucket, Key=f"landing/{HOUR}/obj-2", Body=b"\n".join(later) + b"\n")

    hour = HourStore(s3, bucket, HOUR)
    state = hour.load()
    report = read_partition(s3, bucket, HOUR, state, hour.load_trans_nums(state))
    assert (report.objects, report.objects_compacted) == (1, 1)
    assert (report.lines, report.records, report.unparseable) == (4, 3, 1)
    assert report.duplicates == 2
    assert report.hour_records == 5
    assert report.bad_record_rate == pytest.approx(1 / 6)
    # Without the manifest, the whole hour is read, as before its first compaction.
    whole = read_partition(s3, bucket, HOUR)
    assert (whole.objects, whole.records, whole.duplicates) == (2, 5, 2)
