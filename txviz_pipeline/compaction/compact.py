"""Compact one arrival hour of the landing zone into one sorted, de-duplicated Parquet file.

Input: every NDJSON object Firehose delivered under ``landing/YYYY/MM/DD/HH/``. Output:
``curated/transactions/arrival_hour=YYYY-MM-DD-HH/part-0.parquet`` (Hive-style folder, so Glue,
Athena and DuckDB see ``arrival_hour`` as a partition column). Re-running a partition overwrites
its file, so retries and backfills are idempotent. Counts reconcile exactly:
``lines == rows_written + bad_lines + duplicates_removed``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from txviz_pipeline import aws
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.schema import LANDING_FIELDS, landing_record_problem
from txviz_pipeline.settings import CURATED_PREFIX, LANDING_PREFIX, PARTITION_FMT, Settings

log = logging.getLogger(__name__)

# The Hive partition column of the curated table; values look like 2026-11-27-09.
ARRIVAL_HOUR_COLUMN = "arrival_hour"
ARRIVAL_HOUR_FMT = "%Y-%m-%d-%H"
PARQUET_COMPRESSION = "zstd"
# Objects are small (one Firehose delivery each) and S3 latency dominates: fetch a few at once.
_FETCH_THREADS = 8

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "list<string>": pa.list_(pa.string()),
}


def landing_arrow_schema() -> pa.Schema:
    """The Arrow schema of a landing record, derived from ``schema.LANDING_FIELDS``."""
    return pa.schema(
        [
            pa.field(name, _ARROW_TYPES[kind.rstrip("?")], nullable=kind.endswith("?"))
            for name, kind in LANDING_FIELDS.items()
        ]
    )


def parse_landing_lines(lines: Iterable[bytes | str]) -> tuple[pa.Table, int]:
    """Parse NDJSON lines into a landing table; returns (table, number of bad lines).

    Blank lines carry no record (Firehose framing leaves one after the last ``\\n``) and are
    ignored; every other line is either a row of the table or counted as bad.
    """
    table, bad, _ = _parse(lines)
    return table, bad


def _parse(lines: Iterable[bytes | str]) -> tuple[pa.Table, int, list[str]]:
    columns: dict[str, list[Any]] = {name: [] for name in LANDING_FIELDS}
    bad = 0
    reasons: list[str] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason: str | None = f"invalid JSON: {exc}"
        else:
            reason = landing_record_problem(record)
        if reason is not None:
            bad += 1
            if len(reasons) < 5:
                reasons.append(reason)
            continue
        for name, values in columns.items():
            values.append(record[name])
    schema = landing_arrow_schema()
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema), bad, reasons


def dedupe_and_sort(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep the first row of each trans_num, then order by event_time; returns (table, removed)."""
    if table.num_rows == 0:
        return table, 0
    position = "__position"
    numbered = table.append_column(position, pa.array(range(table.num_rows), pa.int64()))
    first = numbered.group_by("trans_num", use_threads=False).aggregate([(position, "min")])
    kept = table.take(first[f"{position}_min"])
    # trans_num is unique now, so this order is total: the file is identical on every run.
    order = pc.sort_indices(
        kept, sort_keys=[("event_time", "ascending"), ("trans_num", "ascending")]
    )
    return kept.take(order), table.num_rows - kept.num_rows


@dataclass(frozen=True)
class CompactionResult:
    partition_key: str
    objects: int
    lines: int
    rows_written: int
    bad_lines: int
    duplicates_removed: int
    # s3 key of the Parquet file, or None when the partition held no valid rows.
    key: str | None
    bytes_written: int = 0

    @property
    def written(self) -> bool:
        return self.key is not None

    @property
    def reconciles(self) -> bool:
        return self.lines == self.rows_written + self.bad_lines + self.duplicates_removed


def _partition_hour(partition_key: str) -> datetime:
    try:
        hour = datetime.strptime(partition_key, PARTITION_FMT)
    except ValueError:
        hour = None
    if hour is None or hour.strftime(PARTITION_FMT) != partition_key:
        raise ValueError(f"partition key {partition_key!r} is not YYYY/MM/DD/HH")
    return hour


def curated_key(partition_key: str) -> str:
    """The curated Parquet key of a landing partition ("2026/11/27/09" -> .../arrival_hour=...)."""
    hour = _partition_hour(partition_key)
    return f"{CURATED_PREFIX}{ARRIVAL_HOUR_COLUMN}={hour.strftime(ARRIVAL_HOUR_FMT)}/part-0.parquet"


def landing_object_keys(s3, bucket: str, partition_key: str) -> list[str]:
    """Every landing object of one arrival hour, in key order, without directory markers."""
    return list(iter_keys(s3, bucket, f"{LANDING_PREFIX}{partition_key}/"))


def compact_partition(settings: Settings, partition_key: str) -> CompactionResult:
    """Compact landing/<partition_key>/ into its curated Parquet file (overwriting any old one)."""
    target = curated_key(partition_key)
    s3 = aws.client("s3", settings)
    keys = landing_object_keys(s3, settings.bucket, partition_key)

    def fetch(key: str) -> bytes:
        return s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()

    with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
        bodies = list(pool.map(fetch, keys))
    lines = [line for body in bodies for line in body.split(b"\n") if line.strip()]
    table, bad, reasons = _parse(lines)
    if bad:
        log.warning("%s: %d of %d lines rejected, e.g. %s", partition_key, bad, len(lines), reasons)
    table, duplicates = dedupe_and_sort(table)

    if table.num_rows == 0:
        # Nothing valid to publish: remove a file left by an earlier run so curated mirrors landing.
        s3.delete_object(Bucket=settings.bucket, Key=target)
        result = CompactionResult(partition_key, len(keys), len(lines), 0, bad, duplicates, None)
    else:
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression=PARQUET_COMPRESSION)
        data = sink.getvalue().to_pybytes()
        s3.put_object(Bucket=settings.bucket, Key=target, Body=data)
        result = CompactionResult(
            partition_key, len(keys), len(lines), table.num_rows, bad, duplicates, target, len(data)
        )
    log.info(
        "compacted %s: %d objects, %d lines -> %d rows (%d bad, %d duplicates) %s",
        partition_key,
        result.objects,
        result.lines,
        result.rows_written,
        result.bad_lines,
        result.duplicates_removed,
        result.key or "(no file: no valid rows)",
    )
    return result
