"""The local SPICE: curated Parquet in (moto) S3 -> a DuckDB file swapped in atomically."""

from __future__ import annotations

import io
import threading
from decimal import Decimal

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txviz_pipeline import aws
from txviz_pipeline.serving.queries import PANELS, panel_view, run_panel
from txviz_pipeline.serving.spice import REFRESH_TABLE, refresh_local_spice
from txviz_pipeline_tests.compaction.records import landing_record
from txviz_pipeline_tests.serving.curated import amount_total, put_curated

pytestmark = pytest.mark.integration

HOUR_A = "2026/11/27/09"
HOUR_B = "2026/11/27/10"


@pytest.fixture
def s3(moto_settings):
    client = aws.client("s3", moto_settings)
    client.create_bucket(Bucket=moto_settings.bucket)
    return client


def count(path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0]
    finally:
        con.close()


def spice_dir_names(settings) -> list[str]:
    return sorted(p.name for p in settings.spice_path.parent.iterdir())


def test_refresh_loads_every_partition_once(moto_settings, s3):
    first = [landing_record(i) for i in range(40)]
    second = [landing_record(i) for i in range(40, 75)]
    # Record 3 was delivered again an hour later (at-least-once): the SPICE keeps one copy.
    late_copy = {**first[3], "processed_at": "2026-11-27T10:00:05Z"}
    put_curated(s3, moto_settings.bucket, HOUR_A, first)
    put_curated(s3, moto_settings.bucket, HOUR_B, [*second, late_copy])
    s3.put_object(Bucket=moto_settings.bucket, Key="curated/transactions/", Body=b"")

    result = refresh_local_spice(moto_settings)

    expected = first + second
    assert (result.files, result.source_rows, result.rows) == (2, 76, 75)
    assert result.duplicates_removed == 1
    assert result.fraud_rows == sum(r["is_fraud"] for r in expected)
    assert result.amount_total == amount_total(expected)
    assert isinstance(result.amount_total, Decimal)
    assert result.path == moto_settings.spice_path
    assert spice_dir_names(moto_settings) == ["transactions.duckdb"]

    con = duckdb.connect(str(result.path), read_only=True)
    try:
        kept = con.execute(
            "SELECT arrival_hour, processed_at FROM transactions WHERE trans_num = ?",
            [first[3]["trans_num"]],
        ).fetchall()
        assert kept == [("2026-11-27-09", first[3]["processed_at"])]
        total = run_panel(con, "kpis").amount_total.iloc[0]
        assert f"{total:,.2f}" == f"{amount_total(expected):,.2f}"
        for name in PANELS:
            via_view = con.execute(f"SELECT * FROM {panel_view(name)}").df()
            assert via_view.equals(run_panel(con, name)), name
        refresh = con.execute(f"SELECT files, rows, duplicates_removed FROM {REFRESH_TABLE}")
        assert refresh.fetchall() == [(2, 75, 1)]
    finally:
        con.close()


def test_refresh_with_no_curated_data_gives_an_empty_spice(moto_settings, s3):
    result = refresh_local_spice(moto_settings)
    assert (result.rows, result.files, result.amount_total) == (0, 0, Decimal("0.00"))
    assert count(result.path) == 0


def test_swap_leaves_readers_on_the_old_file(moto_settings, s3):
    put_curated(s3, moto_settings.bucket, HOUR_A, [landing_record(i) for i in range(10)])
    refresh_local_spice(moto_settings)
    reader = duckdb.connect(str(moto_settings.spice_path), read_only=True)
    try:
        assert reader.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 10
        put_curated(s3, moto_settings.bucket, HOUR_B, [landing_record(i) for i in range(10, 25)])

        # The reader holds the old file open (and DuckDB's lock on it) during the refresh.
        assert refresh_local_spice(moto_settings).rows == 25

        assert reader.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 10
    finally:
        reader.close()
    assert count(moto_settings.spice_path) == 25
    assert spice_dir_names(moto_settings) == ["transactions.duckdb"]


def test_concurrent_refreshes_each_swap_a_complete_file(moto_settings, s3):
    put_curated(s3, moto_settings.bucket, HOUR_A, [landing_record(i) for i in range(30)])
    results, errors = [], []

    def refresh():
        try:
            results.append(refresh_local_spice(moto_settings))
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=refresh) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [r.rows for r in results] == [30, 30, 30]
    assert count(moto_settings.spice_path) == 30
    assert spice_dir_names(moto_settings) == ["transactions.duckdb"]


def test_foreign_parquet_fails_clearly_and_keeps_the_old_spice(moto_settings, s3):
    put_curated(s3, moto_settings.bucket, HOUR_A, [landing_record(i) for i in range(5)])
    refresh_local_spice(moto_settings)
    sink = io.BytesIO()
    pq.write_table(pa.table({"x": [1]}), sink)
    bad_key = "curated/transactions/arrival_hour=2026-11-27-11/part-0.parquet"
    s3.put_object(Bucket=moto_settings.bucket, Key=bad_key, Body=sink.getvalue())

    with pytest.raises(ValueError, match="arrival_hour=2026-11-27-11.*curated schema"):
        refresh_local_spice(moto_settings)
    assert count(moto_settings.spice_path) == 5
    assert spice_dir_names(moto_settings) == ["transactions.duckdb"]


def spice_rows(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT * FROM transactions ORDER BY trans_num").fetchall()
    finally:
        con.close()


def test_a_refresh_reads_only_new_files_and_equals_a_full_build(moto_settings, s3):
    bucket = moto_settings.bucket
    records = [landing_record(i) for i in range(60)]
    put_curated(s3, bucket, HOUR_B, records[:20])
    first = refresh_local_spice(moto_settings)
    assert (first.extended, first.files_read, first.rows) == (False, 1, 20)

    # A second part of the hour, and an earlier hour that arrives later, holding a copy of a
    # loaded record (the SPICE must now keep that earlier copy, as DATASET_SQL does) and a copy
    # of a record in the same new batch.
    put_curated(s3, bucket, HOUR_B, records[20:40], part=1)
    early_copy = {**records[5], "processed_at": "2026-11-27T09:59:59Z"}
    put_curated(s3, bucket, HOUR_A, [*records[40:60], early_copy])
    late_copy = {**records[45], "processed_at": "2026-11-27T10:30:00Z"}
    put_curated(s3, bucket, HOUR_B, [late_copy], part=2)
    second = refresh_local_spice(moto_settings)
    assert (second.extended, second.files_read, second.files) == (True, 3, 4)
    assert (second.source_rows, second.rows, second.duplicates_removed) == (62, 60, 2)
    extended = spice_rows(moto_settings.spice_path)

    moto_settings.spice_path.unlink()
    full = refresh_local_spice(moto_settings)
    assert (full.extended, full.files_read, full.rows, full.source_rows) == (False, 4, 60, 62)
    assert extended == spice_rows(moto_settings.spice_path)
    kept = [row for row in extended if row[0] == records[5]["trans_num"]]
    assert len(kept) == 1 and "2026-11-27T09:59:59Z" in kept[0]
    assert refresh_local_spice(moto_settings).files_read == 0  # nothing new: nothing read


def test_a_rewritten_or_removed_file_rebuilds_the_spice(moto_settings, s3):
    bucket = moto_settings.bucket
    put_curated(s3, bucket, HOUR_A, [landing_record(i) for i in range(10)])
    put_curated(s3, bucket, HOUR_B, [landing_record(i) for i in range(10, 20)])
    refresh_local_spice(moto_settings)

    # Compaction rebuilt hour A: same key, other rows (and another ETag).
    put_curated(s3, bucket, HOUR_A, [landing_record(i) for i in range(30, 35)])
    rebuilt = refresh_local_spice(moto_settings)
    assert (rebuilt.extended, rebuilt.files_read, rebuilt.rows) == (False, 2, 15)

    s3.delete_object(Bucket=bucket, Key=put_curated(s3, bucket, HOUR_B, []))
    removed = refresh_local_spice(moto_settings)
    assert (removed.extended, removed.files_read, removed.rows) == (False, 1, 5)
    with duckdb.connect(str(moto_settings.spice_path), read_only=True) as con:
        assert con.execute(f"SELECT files, source_rows FROM {REFRESH_TABLE}").fetchall() == [(1, 5)]
