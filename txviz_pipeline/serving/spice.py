"""The local SPICE: a DuckDB file built from the curated Parquet and swapped in atomically.

DuckDB allows one writing process or many reading ones per file. The dashboard opens the SPICE
read-only for every refresh, so a refresh never writes that file: it builds a new one under a
unique temporary name and ``os.replace``s it over the old. Readers that still hold the old file
keep reading it (POSIX keeps the replaced inode alive), new readers see the whole new load, and
concurrent refreshes never share a file (last swap wins, each one complete).

A refresh reads only the curated files the SPICE has not loaded: it copies the previous SPICE
and adds their rows, keeping the copy of each trans_num that DATASET_SQL keeps over all files
(the earliest), so the result is the one a build from every file gives. The SPICE records each
file it loaded with its ETag; when one of them has changed or gone (compaction rebuilt an hour)
or the dataset SQL has, the refresh builds from every file again. During a replay, each refresh
then costs the new Parquet, not the whole table.

S3 is read with boto3 and Parquet with pyarrow: DuckDB's httpfs extension would need a download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import shutil
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
from txviz_pipeline.s3objects import S3Object, iter_objects
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
# The curated files loaded (key, ETag, rows, BUILD): a refresh adds only files not among them.
SOURCES_TABLE = "spice_sources"
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
    files_read: int = 0  # curated files read by this refresh (the rest were loaded before)
    extended: bool = False  # added to the previous SPICE rather than built anew


def curated_schema() -> pa.Schema:
    """The curated table as the SPICE loads it: the landing fields plus ``arrival_hour``."""
    return landing_arrow_schema().append(pa.field(ARRIVAL_HOUR_COLUMN, pa.string(), False))


# What a SPICE's rows depend on besides its sources: a refresh adds to a SPICE built by the same
# dataset SQL over the same curated schema, and builds anew otherwise.
BUILD = hashlib.sha256(f"{DATASET_SQL}\n{curated_schema()}".encode()).hexdigest()[:16]


def curated_objects(s3, bucket: str) -> list[S3Object]:
    """Every curated Parquet object, in key (arrival hour) order."""
    objects: list[S3Object] = []
    for obj in iter_objects(s3, bucket, CURATED_PREFIX):
        if not obj.key.endswith(".parquet") or not _ARRIVAL_HOUR.search(obj.key):
            log.warning("ignoring %s: not an arrival_hour=.../*.parquet file", obj.key)
            continue
        objects.append(obj)
    return objects


def curated_parquet_keys(s3, bucket: str) -> list[str]:
    """The keys of ``curated_objects``."""
    return [obj.key for obj in curated_objects(s3, bucket)]


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


def _stage(con: duckdb.DuckDBPyConnection, staging: Path, tables: Iterable[pa.Table], sources):
    """The curated rows to load go to an attached staging file named like the Glue database, so
    DATASET_SQL reads "txviz.transactions" here exactly as it does on Athena; each file's (key,
    ETag, rows) to SOURCES_TABLE."""
    catalog = SOURCE_TABLE.split(".")[0]
    quoted = str(staging).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS {catalog}")
    con.register("curated_batch", curated_schema().empty_table())
    con.execute(f"CREATE TABLE {SOURCE_TABLE} AS SELECT * FROM curated_batch")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SOURCES_TABLE}"
        " (key VARCHAR, etag VARCHAR, rows BIGINT, build VARCHAR)"
    )
    for table, (key, etag) in zip(tables, sources, strict=True):
        con.register("curated_batch", table)
        con.execute(f"INSERT INTO {SOURCE_TABLE} SELECT * FROM curated_batch")
        con.execute(
            f"INSERT INTO {SOURCES_TABLE} VALUES (?, ?, ?, ?)", [key, etag, table.num_rows, BUILD]
        )
    con.unregister("curated_batch")
    add_trino_functions(con)


def _build(con: duckdb.DuckDBPyConnection) -> None:
    """A new SPICE: the dataset over the staged rows, and the panels' views."""
    con.execute(f"CREATE TABLE {DATASET_TABLE} AS {DATASET_SQL}")
    for name, sql in PANELS.items():
        con.execute(f"CREATE VIEW {panel_view(name)} AS {sql}")


# A staged copy f of a trans_num comes before a loaded copy t in the order DATASET_SQL keeps.
_EARLIER = (
    "f.arrival_hour < t.arrival_hour OR (f.arrival_hour = t.arrival_hour AND"
    " (f.processed_at < t.processed_at OR"
    " (f.processed_at = t.processed_at AND f.row_id < t.row_id)))"
)


def _extend(con: duckdb.DuckDBPyConnection) -> None:
    """A copy of the previous SPICE with the staged rows added: what DATASET_SQL gives over the
    previous sources and the new ones together (one copy per trans_num, the earliest)."""
    con.execute(f"CREATE TEMP TABLE fresh AS {DATASET_SQL}")
    con.execute(
        f"DELETE FROM {DATASET_TABLE} AS t USING fresh AS f"
        f" WHERE t.trans_num = f.trans_num AND ({_EARLIER})"
    )
    con.execute(
        f"INSERT INTO {DATASET_TABLE} SELECT * FROM fresh AS f WHERE NOT EXISTS"
        f" (SELECT 1 FROM {DATASET_TABLE} AS t WHERE t.trans_num = f.trans_num)"
    )
    con.execute("DROP TABLE fresh")
    con.execute(f"DROP TABLE {REFRESH_TABLE}")


def loaded_sources(con: duckdb.DuckDBPyConnection) -> dict[str, str] | None:
    """key -> ETag of the curated files a SPICE was built from; None if it cannot be extended
    (built before sources were recorded, or by another dataset SQL or curated schema)."""
    try:
        rows = con.execute(f"SELECT key, etag, build FROM {SOURCES_TABLE}").fetchall()
    except duckdb.CatalogException:
        return None
    if any(build != BUILD for _, _, build in rows):
        return None
    return {key: etag for key, etag, _ in rows}


def refresh_local_spice(settings: Settings) -> SpiceRefreshResult:
    """Bring the local SPICE up to the curated Parquet and swap it in atomically: it reads only
    the files the SPICE has not loaded, when every file it loaded is still there unchanged, and
    every file otherwise (compaction rebuilt an hour, the dataset SQL changed)."""
    started = time.monotonic()
    s3 = aws.client("s3", settings)
    objects = curated_objects(s3, settings.bucket)
    loaded = extendable(settings.spice_path, {obj.key: obj.etag for obj in objects})
    new = [obj for obj in objects if loaded is None or obj.key not in loaded]
    result = publish_spice(
        settings.spice_path,
        _curated_tables(s3, settings.bucket, [obj.key for obj in new]),
        files=len(objects),
        started=started,
        sources=[(obj.key, obj.etag) for obj in new],
        extend=loaded is not None,
    )
    return dataclasses.replace(result, files_read=len(new), extended=loaded is not None)


def extendable(path: Path, current: dict[str, str]) -> dict[str, str] | None:
    """The sources of the SPICE at ``path`` if a refresh may add to it: it exists, records its
    sources, and each is still in ``current`` (key -> ETag) unchanged. None: build anew."""
    if not path.exists():
        return None
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            loaded = loaded_sources(con)
    except duckdb.Error:
        return None
    if loaded is None or any(current.get(key) != etag for key, etag in loaded.items()):
        return None
    return loaded


def curated_table(landing: pa.Table, arrival_hour: str) -> pa.Table:
    """A landing table as one curated partition (adds the ``arrival_hour`` column)."""
    column = pa.array([arrival_hour] * landing.num_rows, pa.string())
    return landing.append_column(curated_schema().field(ARRIVAL_HOUR_COLUMN), column)


def publish_spice(
    target: Path,
    tables: Iterable[pa.Table],
    *,
    files: int,
    started: float | None = None,
    sources: Iterable[tuple[str, str]] | None = None,
    extend: bool = False,
) -> SpiceRefreshResult:
    """Build a SPICE file from curated tables under a unique temp name, then swap it in.

    ``sources``: (key, ETag) of the file each table came from. ``extend``: start from a copy of
    the SPICE at ``target`` and add the tables to it (``extendable`` says when that is right).
    """
    started = time.monotonic() if started is None else started
    private_dir(target.parent)
    token = uuid.uuid4().hex
    building = target.with_name(f".{target.stem}.{token}.building.duckdb")
    staging = target.with_name(f".{target.stem}.{token}.staging.duckdb")
    if sources is None:
        tables = list(tables)
        sources = [(f"table-{i}", "") for i in range(len(tables))]
    try:
        if extend:
            shutil.copyfile(target, building)
        con = duckdb.connect(str(building))
        try:
            _stage(con, staging, tables, sources)
            (_extend if extend else _build)(con)
            con.execute("DETACH " + SOURCE_TABLE.split(".")[0])
            source_rows = con.execute(
                f"SELECT COALESCE(SUM(rows), 0) FROM {SOURCES_TABLE}"
            ).fetchone()[0]
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
