"""Helpers for serving tests: curated Parquet files in S3 and a SPICE built from records."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from txviz_pipeline.compaction import curated_part_key, parse_landing_lines
from txviz_pipeline.compaction.records import sort_by_event_time


def parquet_bytes(records: list[dict[str, Any]]) -> bytes:
    table, bad = parse_landing_lines([orjson.dumps(r) for r in records])
    assert bad == 0
    assert len(set(table.column("trans_num").to_pylist())) == table.num_rows
    table = sort_by_event_time(table)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def put_curated(
    s3, bucket: str, partition_key: str, records: list[dict[str, Any]], part: int = 0
) -> str:
    """Write records as the ``part``-th curated file of ``partition_key`` (like compaction)."""
    key = curated_part_key(partition_key, part)
    s3.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(records))
    return key


def amount_total(records: list[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(r["amount"])) for r in records), Decimal("0.00"))
