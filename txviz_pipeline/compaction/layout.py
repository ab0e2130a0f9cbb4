"""Where compaction's objects live in S3, per arrival hour.

Data: ``curated/transactions/arrival_hour=YYYY-MM-DD-HH/part-NNNNN.parquet`` (a Hive-style
folder, so Glue, Athena and DuckDB see ``arrival_hour`` as a partition column). State:
``curated/_compaction/arrival_hour=YYYY-MM-DD-HH/`` (manifest and trans_num digests), outside
the table's location.
"""

from __future__ import annotations

from datetime import datetime

from txviz_pipeline.settings import (
    COMPACTION_STATE_PREFIX,
    CURATED_PREFIX,
    LANDING_PREFIX,
    PARTITION_FMT,
)

# The Hive partition column of the curated table; values look like 2026-11-27-09.
ARRIVAL_HOUR_COLUMN = "arrival_hour"
ARRIVAL_HOUR_FMT = "%Y-%m-%d-%H"


def partition_hour(partition_key: str) -> datetime:
    """The hour of a landing partition key ("2026/11/27/09"); ValueError if it is not one."""
    try:
        hour = datetime.strptime(partition_key, PARTITION_FMT)
    except ValueError:
        hour = None
    if hour is None or hour.strftime(PARTITION_FMT) != partition_key:
        raise ValueError(f"partition key {partition_key!r} is not YYYY/MM/DD/HH")
    return hour


def landing_prefix(partition_key: str) -> str:
    return f"{LANDING_PREFIX}{partition_key}/"


def _folder(prefix: str, partition_key: str) -> str:
    hour = partition_hour(partition_key)
    return f"{prefix}{ARRIVAL_HOUR_COLUMN}={hour.strftime(ARRIVAL_HOUR_FMT)}/"


def curated_hour_prefix(partition_key: str) -> str:
    """The curated folder of a landing partition ("2026/11/27/09" -> .../arrival_hour=.../)."""
    return _folder(CURATED_PREFIX, partition_key)


def curated_part_key(partition_key: str, index: int = 0) -> str:
    """The key of the hour's ``index``-th Parquet part."""
    return f"{curated_hour_prefix(partition_key)}part-{index:05d}.parquet"


def state_prefix(partition_key: str) -> str:
    return _folder(COMPACTION_STATE_PREFIX, partition_key)


def manifest_key(partition_key: str) -> str:
    return f"{state_prefix(partition_key)}manifest.json"


def trans_nums_key(partition_key: str, generation: int) -> str:
    """The trans_num digest set covering the hour's first ``generation`` parts."""
    return f"{state_prefix(partition_key)}trans_nums-{generation:05d}.u64"
