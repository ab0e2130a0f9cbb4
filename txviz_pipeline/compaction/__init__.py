"""Hourly compaction: each landing NDJSON object, read once, merged into its arrival hour's
Parquet parts under curated/."""

from txviz_pipeline.compaction.compact import CompactionResult, compact_partition
from txviz_pipeline.compaction.layout import (
    ARRIVAL_HOUR_COLUMN,
    ARRIVAL_HOUR_FMT,
    curated_hour_prefix,
    curated_part_key,
)
from txviz_pipeline.compaction.records import landing_arrow_schema, parse_landing_lines

__all__ = [
    "ARRIVAL_HOUR_COLUMN",
    "ARRIVAL_HOUR_FMT",
    "CompactionResult",
    "compact_partition",
    "curated_hour_prefix",
    "curated_part_key",
    "landing_arrow_schema",
    "parse_landing_lines",
]
