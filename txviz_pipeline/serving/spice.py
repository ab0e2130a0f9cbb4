"""The local SPICE: a DuckDB file rebuilt from the curated Parquet and swapped in atomically.

DuckDB allows one writing process or many reading ones per file. The dashboard opens the SPICE
read-only for every refresh, so a refresh never writes that file: it builds a new one under a
unique temporary name and ``os.replace``s it over the old. Readers that still hold the old file
keep reading it (POSIX keeps the replaced inode alive), new readers see the whole new load, and
concurrent refreshes never share a file (last swap wins, each one complete).

S3 is read with boto3 and Parquet with pyarrow: DuckDB's httpfs extension would need a download.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from txviz_pipeline import aws
from txviz_pipeline.compaction import ARRIVAL_HOUR_COLUMN, landing_arrow_schema
from txviz_pipeline.private_files import private_dir
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.serving.queries import (
    DATASET_SQL,
    DATASET_TABLE,
    PANELS,
    SOURCE_TABLE,
    add_trino_functions,
    panel_view,
)
from txviz_pipeline.settings import CURATED_PREFIX, Settings

log = logging.getLogger(__name__)

# One row describing the load, for the dashboard's "refreshed at" line.
REFRESH_TABLE = "spice_refresh"
_ARRIVAL_HOUR = re.compile(rf"(?:^|/){ARRIVAL_HOUR_COLUMN}=([^/]+)/")
# Curated files are fetched a few at a time: S3 latency dominates, memory stays bounded.
_FETCH_BATCH = 8


@dataclass(frozen=True)
class SpiceRefreshResult:
    rows: int
    fraud_rows: int
    amount_total: Decimal
    files: int
    path: Path
    duration_s: float
    source_rows: int = 0
    duplicates_removed: int = 0
    refreshed_at: str = ""


def curated_schema() -> pa.Schema:
    """The curated table as the SPICE loads it: the landing fields plus ``arrival_hour``."""
    return landing_arrow_schema().append(pa.field(ARRIVAL_HOUR_COLUMN, pa.string(), False))


def curated_parquet_keys(s3, bucket: str) -> list[str]:
    """Every curated Parquet object, in key (arrival hour) order."""
    keys: list[str] = []
    for key in iter_keys(s3, bucket, CURATED_PREFIX):
        if not key.endswith(".parquet") or not _ARRIVAL_HOUR.search(key):
            log.warning("ignoring %s: not an arrival_hour=.../*.parquet file", key)
            continue
        keys.append(key)
    return keys


def _read_curated(s3, bucket: str, key: str) -> pa.Table:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    table = pq.read_table(pa.BufferReader(body))
    landing = landing_arrow_schema()
    try:
        table = table.select(landing.names).cast(landing)
    except (KeyError, pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ValueError(f"s3://{bucket}/{key} does not have the curated schema: {exc}") from exc
    return curated_table(table, _ARRIVAL_HOUR.search(key).group(1))


def _curated_tables(s3, bucket: str, keys: list[str]) -> Iterator[pa.Table]:
    with ThreadPoolExecutor(max_workers=_FETCH_BATCH) as pool:
        for start in range(0, len(keys), _FETCH_BATCH):
            batch = keys[start : start + _FETCH_BATCH]
            yield from pool.map(lambda k: _read_curated(s3, bucket, k), batch)


def _build(con: duckdb.DuckDBPyConnection, staging: Path, tables: Iterable[pa.Table]) -> None:
    # The curated rows go to an attached staging file named like the Glue database, so
    # DATASET_SQL reads "txviz.transactions" here exactly as it does on Athena.
    catalog = SOURCE_TABLE.split(".")[0]
    quoted = str(staging).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {catalog}")
    con.register("curated_batch", curated_schema().empty_table())
    con.execute(f"CREATE TABLE {SOURCE_TABLE} AS SELECT * FROM curated_batch")
    for table in tables:
        con.register("curated_batch", table)
        con.execute(f"INSERT INTO {SOURCE_TABLE} SELECT * FROM curated_batch")
    con.unregister("curated_batch")
    add_trino_functions(con)
    con.execute(f"CREATE TABLE {DATASET_TABLE} AS {DATASET_SQL}")
    for name, sql in PANELS.items():
        con.execute(f"CREATE VIEW {panel_view(name)} AS {sql}")


def refresh_local_spice(settings: Settings) -> SpiceRefreshResult:
    """Rebuild the local SPICE from every curated Parquet file and swap it in atomically."""
    started = time.monotonic()
    s3 = aws.client("s3", settings)
    keys = curated_parquet_keys(s3, settings.bucket)
    tables = _curated_tables(s3, settings.bucket, keys)
    return publish_spice(settings.spice_path, tables, files=len(keys), started=started)


def curated_table(landing: pa.Table, arrival_hour: str) -> pa.Table:
    """A landing table as one curated partition (adds the ``arrival_hour`` column)."""
    column = pa.array([arrival_hour] * landing.num_rows, pa.string())
    return landing.append_column(curated_schema().field(ARRIVAL_HOUR_COLUMN), column)


def publish_spice(
    target: Path, tables: Iterable[pa.Table], *, files: int, started: float | None = None
) -> SpiceRefreshResult:
    """Build a SPICE file from curated tables under a unique temp name, then swap it in."""
    started = time.monotonic() if started is None else started
    private_dir(target.parent)
    token = uuid.uuid4().hex
    building = target.with_name(f".{target.stem}.{token}.building.duckdb")
    staging = target.with_name(f".{target.stem}.{token}.staging.duckdb")
    try:
        con = duckdb.connect(str(building))
        try:
            _build(con, staging, tables)
            source_rows = con.execute(f"SELECT COUNT(*) FROM {SOURCE_TABLE}").fetchone()[0]
            con.execute("DETACH " + SOURCE_TABLE.split(".")[0])
            rows, fraud_rows, amount_total = con.execute(
                f"SELECT COUNT(*), CAST(COALESCE(SUM(is_fraud), 0) AS BIGINT),"
                f" COALESCE(SUM(CAST(amount AS DECIMAL(18, 2))), 0) FROM {DATASET_TABLE}"
            ).fetchone()
            refreshed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            con.execute(
                f"CREATE TABLE {REFRESH_TABLE} AS SELECT ? AS refreshed_at, ? AS files,"
                " ? AS source_rows, ? AS rows, ? AS duplicates_removed, ? AS duration_s",
                [
                    refreshed_at,
                    files,
                    source_rows,
                    rows,
                    source_rows - rows,
                    time.monotonic() - started,
                ],
            )
            con.execute("CHECKPOINT")
        finally:
            con.close()
        building.chmod(0o600)
        os.replace(building, target)
    finally:
        for leftover in (building, staging):
            for path in (leftover, leftover.with_name(leftover.name + ".wal")):
                path.unlink(missing_ok=True)
    result = SpiceRefreshResult(
        rows=rows,
        fraud_rows=fraud_rows,
        amount_total=Decimal(amount_total).quantize(Decimal("0.01")),
        files=files,
        path=target,
        duration_s=time.monotonic() - started,
        source_rows=source_rows,
        duplicates_removed=source_rows - rows,
        refreshed_at=refreshed_at,
    )
    log.info(
        "local SPICE refreshed: %d rows (%d duplicates removed) from %d files in %.2f s",
        result.rows,
        result.duplicates_removed,
        result.files,
        result.duration_s,
    )
    return result
