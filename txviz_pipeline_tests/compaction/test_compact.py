"""Compaction: each landing object merged once into its hour's de-duplicated Parquet parts."""

from __future__ import annotations

import io

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txviz_pipeline import aws
from txviz_pipeline.compaction import (
    compact_partition,
    curated_hour_prefix,
    curated_part_key,
    landing_arrow_schema,
    parse_landing_lines,
)
from txviz_pipeline.compaction.compact import FETCH_WINDOW_BYTES, _windows
from txviz_pipeline.compaction.layout import manifest_key, state_prefix
from txviz_pipeline.compaction.records import LineTally, landing_batches
from txviz_pipeline.s3objects import S3Object
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


def test_curated_keys_are_hive_style_and_validate():
    assert curated_part_key(PARTITION, 3) == (
        "curated/transactions/arrival_hour=2026-11-27-09/part-00003.parquet"
    )
    assert manifest_key(PARTITION) == "curated/_compaction/arrival_hour=2026-11-27-09/manifest.json"
    for bad in ("2026/11/27", "2026-11-27-09", "2026/11/27/9", "2026/13/27/09"):
        with pytest.raises(ValueError, match="YYYY/MM/DD/HH"):
            curated_part_key(bad)


def test_batches_are_bounded_and_lose_no_line():
    lines = [orjson.dumps(landing_record(i)) for i in range(23)] + [b"bad"]
    tally = LineTally()
    batches = list(landing_batches(lines, 10, tally))
    assert [b.num_rows for b in batches] == [10, 10, 3]
    assert (tally.lines, tally.bad) == (24, 1)


def test_fetch_windows_bound_objects_and_bytes():
    objects = [S3Object(f"k{i}", size, None) for i, size in enumerate([1, 1, 30 << 20, 5 << 20])]
    objects += [S3Object(f"s{i}", 1, None) for i in range(10)]
    windows = [[o.key for o in w] for w in _windows(objects)]
    assert windows[:2] == [["k0", "k1", "k2"], ["k3", "s0", "s1", "s2", "s3", "s4", "s5", "s6"]]
    assert windows[2:] == [["s7", "s8", "s9"]]
    assert all(sum(o.size for o in w) <= FETCH_WINDOW_BYTES for w in _windows(objects))


# --- against a moto server over HTTP --------------------------------------------------------


@pytest.fixture
def s3(moto_settings):
    client = aws.client("s3", moto_settings)
    client.create_bucket(Bucket=moto_settings.bucket)
    return client


def land(s3, bucket: str, name: str, body: bytes, partition: str = PARTITION) -> None:
    s3.put_object(Bucket=bucket, Key=f"landing/{partition}/{name}", Body=body)


def hour_rows(s3, bucket: str, partition: str = PARTITION) -> list[dict]:
    """Every row of the hour's curated parts, as a consumer listing curated/ reads them."""
    rows = []
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=curated_hour_prefix(partition))
    for obj in listed.get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        assert table.schema.remove_metadata() == landing_arrow_schema()
        rows += table.to_pylist()
    return rows


def by_trans_num(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: r["trans_num"])


@pytest.fixture
def landing_reads(monkeypatch):
    """The landing keys compaction fetches (GetObject), in order, however many clients it makes."""
    fetched: list[str] = []
    make = aws.client

    def counting_client(service, *args, **kwargs):
        client = make(service, *args, **kwargs)
        if service == "s3":

            def record(params, **_):
                if params["Key"].startswith("landing/"):
                    fetched.append(params["Key"])

            client.meta.events.register("provide-client-params.s3.GetObject", record)
        return client

    monkeypatch.setattr(aws, "client", counting_client)
    return fetched


@pytest.mark.integration
def test_first_run_compacts_the_hour_and_a_rerun_changes_nothing(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(30)]
    # Out of event-time order across objects; record 7 delivered twice (at-least-once).
    duplicate = {**records[7], "processed_at": "2026-11-27T09:59:59Z"}
    s3.put_object(Bucket=bucket, Key=PREFIX, Body=b"")  # a directory marker
    land(s3, bucket, "a", ndjson(records[20:]))
    land(s3, bucket, "b", ndjson(records[:10]) + b'{"trans_num": "truncated\n')
    land(s3, bucket, "c", ndjson([*records[10:20], duplicate]))
    # The next hour must not leak into this partition.
    land(s3, bucket, "d", ndjson([landing_record(99)]), partition="2026/11/27/10")

    result = compact_partition(moto_settings, PARTITION)

    run = result.run
    assert (run.objects, run.lines, run.rows, run.bad_lines, run.duplicates_removed) == (
        3, 32, 30, 1, 1,
    )  # fmt: skip
    assert result.hour == run and result.reconciles and result.parts == 1
    assert result.key == curated_part_key(PARTITION, 0)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="curated/transactions/")["Contents"]
    assert [o["Key"] for o in listed] == [result.key]
    # One batch, one row group, in event-time order; the first copy of record 7 is kept.
    assert hour_rows(s3, bucket) == sorted(records, key=lambda r: r["event_time"])
    meta = pq.ParquetFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()))
    assert meta.metadata.row_group(0).column(0).compression == "ZSTD"

    before = s3.get_object(Bucket=bucket, Key=result.key)["Body"].read()
    again = compact_partition(moto_settings, PARTITION)
    assert (again.run.objects, again.run.lines, again.key) == (0, 0, None)
    assert again.hour == result.hour and again.parts == 1
    assert s3.get_object(Bucket=bucket, Key=result.key)["Body"].read() == before


@pytest.mark.integration
def test_runs_read_each_object_once_and_drop_copies_across_objects_and_runs(
    moto_settings, s3, landing_reads
):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(60)]
    rounds = [
        # (object name, body): copies inside an object, across objects of a run, across runs.
        [
            ("o1", ndjson(records[0:10] + records[3:4])),
            ("o2", ndjson(records[10:20] + records[:2])),
        ],
        [("o3", ndjson(records[20:35]) + b"not json\n"), ("o4", ndjson(records[5:8]))],
        [("o5", ndjson(records[35:60] + records[34:36]) + b"\n\n")],
    ]
    expected = [(2, 23, 20, 0, 3), (2, 19, 15, 1, 3), (1, 27, 25, 0, 2)]
    total_lines = 0
    for number, (objects, counts) in enumerate(zip(rounds, expected, strict=True), start=1):
        for name, body in objects:
            land(s3, bucket, name, body)
        landing_reads.clear()
        result = compact_partition(moto_settings, PARTITION, batch_rows=7)
        assert sorted(landing_reads) == [f"{PREFIX}{name}" for name, _ in objects]
        assert result.run.as_tuple() == counts
        total_lines += counts[1]
        assert result.hour.lines == total_lines and result.reconciles
        assert result.parts == number
    assert result.hour.as_tuple() == (5, 69, 60, 1, 8)
    assert by_trans_num(hour_rows(s3, bucket)) == by_trans_num(records)


@pytest.mark.integration
@pytest.mark.parametrize("stop_before", ["save_trans_nums", "save"])
def test_a_run_stopped_between_its_writes_is_redone_without_duplicates(
    moto_settings, s3, monkeypatch, stop_before
):
    from txviz_pipeline.compaction.hourstate import HourStore

    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(40)]
    land(s3, bucket, "o1", ndjson(records[:20]))
    first = compact_partition(moto_settings, PARTITION)
    land(s3, bucket, "o2", ndjson(records[20:30] + records[:5]))

    def crash(*_args, **_kwargs):
        raise ConnectionError("the run's process died here")

    with monkeypatch.context() as patch:
        patch.setattr(HourStore, stop_before, crash)
        with pytest.raises(ConnectionError):
            compact_partition(moto_settings, PARTITION)
    # The stopped run's part is in S3 (a reader may see it now), its objects not yet merged.
    assert len(hour_rows(s3, bucket)) == 30
    land(s3, bucket, "o3", ndjson(records[30:] + records[25:26]))

    result = compact_partition(moto_settings, PARTITION)

    assert result.orphans_removed == 1
    assert result.run.as_tuple() == (2, 26, 20, 0, 6)
    assert result.hour.as_tuple() == (3, 46, 40, 0, 6) and result.reconciles
    assert result.key == curated_part_key(PARTITION, 1)
    assert by_trans_num(hour_rows(s3, bucket)) == by_trans_num(records)
    state = sorted(
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=state_prefix(PARTITION))["Contents"]
    )
    assert state == [manifest_key(PARTITION), f"{state_prefix(PARTITION)}trans_nums-00002.u64"]
    assert first.key == curated_part_key(PARTITION, 0)


@pytest.mark.integration
def test_manifest_grows_with_objects_not_rows(moto_settings, s3):
    bucket = moto_settings.bucket
    sizes = {}
    for partition, rows_per_object in (("2026/11/27/09", 10), ("2026/11/27/10", 400)):
        for n in range(12):
            start = n * rows_per_object
            records = [landing_record(start + i) for i in range(rows_per_object)]
            land(s3, bucket, f"o{n:02d}", ndjson(records), partition=partition)
            if n % 4 == 3:
                compact_partition(moto_settings, partition)
        body = s3.get_object(Bucket=bucket, Key=manifest_key(partition))["Body"].read()
        sizes[partition] = len(body)
    small, large = sizes.values()
    # 40x the rows: the same parts and objects, only the counts' digits differ.
    assert abs(large - small) < 40
    assert large < 2_000


@pytest.mark.integration
def test_an_hour_of_bad_lines_writes_no_part_and_the_old_layout_is_replaced(moto_settings, s3):
    bucket = moto_settings.bucket
    old_file = f"{curated_hour_prefix(PARTITION)}part-0.parquet"
    s3.put_object(Bucket=bucket, Key=old_file, Body=b"stale")
    land(s3, bucket, "only-bad", b"garbage\n")

    result = compact_partition(moto_settings, PARTITION)

    assert not result.written and result.orphans_removed == 1
    assert result.run.as_tuple() == (1, 1, 0, 1, 0) and result.reconciles
    assert s3.list_objects_v2(Bucket=bucket, Prefix="curated/transactions/").get("KeyCount") == 0
    nothing = compact_partition(moto_settings, "2026/11/27/11")
    assert (nothing.run.objects, nothing.hour.lines, nothing.key) == (0, 0, None)


@pytest.mark.integration
def test_rebuild_compacts_the_whole_hour_again(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(30)]
    for n in range(3):
        land(s3, bucket, f"o{n}", ndjson(records[n * 10 : n * 10 + 10]))
        compact_partition(moto_settings, PARTITION)

    result = compact_partition(moto_settings, PARTITION, rebuild=True)

    assert result.orphans_removed == 3
    assert result.run.as_tuple() == result.hour.as_tuple() == (3, 30, 30, 0, 0)
    assert result.parts == 1
    assert by_trans_num(hour_rows(s3, bucket)) == by_trans_num(records)
