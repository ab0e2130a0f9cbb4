"""Compaction: landing NDJSON -> one sorted, de-duplicated Parquet file per arrival hour."""

from __future__ import annotations

import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txviz_pipeline import aws
from txviz_pipeline.compaction import (
    compact_partition,
    curated_key,
    landing_arrow_schema,
    parse_landing_lines,
)
from txviz_pipeline.compaction.compact import dedupe_and_sort
from txviz_pipeline.schema import LANDING_FIELDS
from txviz_pipeline.schema import landing_record_problem as check_landing_record
from txviz_pipeline_tests.compaction.records import landing_record, ndjson

PARTITION = "2026/11/27/09"
PREFIX = f"landing/{PARTITION}/"


def test_arrow_schema_follows_landing_fields():
    schema = landing_arrow_schema()
    assert schema.names == list(LANDING_FIELDS)
    assert schema.field("amount").type == pa.float64()
    assert schema.field("row_id").type == pa.int64()
    assert schema.field("fraud_reasons").type == pa.list_(pa.string())
    # The model's verdict and version follow the reasons, never null.
    names = schema.names
    assert names[names.index("fraud_reasons") + 1 :][:2] == ["fraud_flagged", "model_version"]
    assert schema.field("fraud_flagged").type == pa.int64()
    assert schema.field("model_version").type == pa.string()
    assert not schema.field("fraud_flagged").nullable and not schema.field("model_version").nullable


def test_parse_keeps_good_lines_and_counts_bad_ones():
    good = [landing_record(i) for i in range(3)]
    bad_lines = [
        b"{not json",
        b"[1, 2]",
        orjson.dumps({k: v for k, v in landing_record(10).items() if k != "zip"}),
        orjson.dumps({**landing_record(11), "extra": 1}),
        orjson.dumps(landing_record(12, amount="4.97")),
        orjson.dumps(landing_record(13, is_fraud=True)),
        orjson.dumps(landing_record(14, city_pop=None)),
        orjson.dumps(landing_record(15, fraud_reasons=["ok", 3])),
        orjson.dumps(landing_record(16, row_id=1.5)),
    ]
    lines = [orjson.dumps(good[0]), b"", *bad_lines, orjson.dumps(good[1]), "   ", ndjson(good[2:])]
    table, bad = parse_landing_lines(lines)
    assert bad == len(bad_lines)
    assert table.schema == landing_arrow_schema()
    assert table.to_pylist() == good


def test_integral_amount_is_accepted_as_float():
    table, bad = parse_landing_lines([orjson.dumps(landing_record(1, amount=5))])
    assert bad == 0
    assert table.column("amount").to_pylist() == [5.0]


def test_check_landing_record_says_why():
    assert check_landing_record(landing_record(1)) is None
    assert "amount" in check_landing_record(landing_record(1, amount="x"))
    assert "missing ['zip']" in check_landing_record(
        {k: v for k, v in landing_record(1).items() if k != "zip"}
    )


def test_dedupe_keeps_first_and_sorts_by_event_time():
    first = landing_record(5, processed_at="2026-11-27T09:00:01Z")
    again = landing_record(5, processed_at="2026-11-27T09:00:09Z")
    early = landing_record(1)
    table, _ = parse_landing_lines([orjson.dumps(r) for r in (first, early, again)])
    deduped, removed = dedupe_and_sort(table)
    assert removed == 1
    assert deduped.to_pylist() == [early, first]


def test_curated_key_is_hive_style_and_validates():
    assert curated_key(PARTITION) == (
        "curated/transactions/arrival_hour=2026-11-27-09/part-0.parquet"
    )
    for bad in ("2026/11/27", "2026-11-27-09", "2026/11/27/9", "2026/13/27/09"):
        with pytest.raises(ValueError, match="YYYY/MM/DD/HH"):
            curated_key(bad)


def _read_parquet(s3, bucket: str, key: str) -> pa.Table:
    return pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))


@pytest.mark.integration
def test_compact_partition_end_to_end(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    records = [landing_record(i) for i in range(30)]
    # Out of event-time order across objects; record 7 delivered twice (at-least-once).
    duplicate = {**records[7], "processed_at": "2026-11-27T09:59:59Z"}
    objects = {
        PREFIX: b"",  # a directory marker
        f"{PREFIX}txviz-transactions-1-2026-11-27-09-00-01-aaa": ndjson(records[20:]),
        f"{PREFIX}txviz-transactions-1-2026-11-27-09-00-02-bbb": ndjson(records[:10])
        + b'{"trans_num": "truncated\n',
        f"{PREFIX}txviz-transactions-1-2026-11-27-09-00-03-ccc": ndjson(
            [*records[10:20], duplicate]
        ),
        # The next hour must not leak into this partition.
        "landing/2026/11/27/10/txviz-transactions-1-2026-11-27-10-00-00-ddd": ndjson(
            [landing_record(99)]
        ),
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    result = compact_partition(moto_settings, PARTITION)

    assert (result.objects, result.lines) == (3, 32)
    assert (result.rows_written, result.bad_lines, result.duplicates_removed) == (30, 1, 1)
    assert result.reconciles
    assert result.key == curated_key(PARTITION)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="curated/")["Contents"]
    assert [o["Key"] for o in listed] == [result.key]
    table = _read_parquet(s3, bucket, result.key)
    assert table.schema.remove_metadata() == landing_arrow_schema()
    assert table.to_pylist() == sorted(records, key=lambda r: r["event_time"])
    meta = pq.ParquetFile(
        io.BytesIO(s3.get_object(Bucket=bucket, Key=result.key)["Body"].read())
    ).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"

    # A re-run gives the same counts and byte-identical output.
    before = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    assert compact_partition(moto_settings, PARTITION) == result
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == before


@pytest.mark.integration
def test_empty_partition_writes_nothing_and_clears_stale_output(moto_settings):
    s3 = aws.client("s3", moto_settings)
    bucket = moto_settings.bucket
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=curated_key(PARTITION), Body=b"stale")
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}only-bad", Body=b"garbage\n")

    result = compact_partition(moto_settings, PARTITION)

    assert not result.written
    assert (result.objects, result.lines, result.rows_written, result.bad_lines) == (1, 1, 0, 1)
    assert s3.list_objects_v2(Bucket=bucket, Prefix="curated/").get("KeyCount") == 0
    nothing = compact_partition(moto_settings, "2026/11/27/11")
    assert (nothing.objects, nothing.lines, nothing.key) == (0, 0, None)
