"""Hourly compaction: the landing zone's NDJSON objects become one Parquet file per arrival hour."""

from txviz_pipeline.compaction.compact import (
    CompactionResult,
    compact_partition,
    curated_key,
    landing_arrow_schema,
    parse_landing_lines,
)

__all__ = [
    "CompactionResult",
    "compact_partition",
    "curated_key",
    "landing_arrow_schema",
    "parse_landing_lines",
]
