"""Find every new object in the landing zone, exactly once, without a key or time cursor.

Firehose names objects ``<prefix>YYYY/MM/DD/HH/<stream>-<ver>-YYYY-MM-DD-HH-MM-SS-<uuid>``: keys
written in the same second sort by their random suffix, so a StartAfter cursor skips objects
that land behind it, and S3's one-second LastModified makes a time cursor miss objects that land
in the cursor's own second. Instead each scan lists the recent hour prefixes in full and
compares them with the set of keys already seen, kept in the cursor as short digests per hour.
Hours older than the lookback window are dropped from the cursor; an object can only land in the
current arrival hour, so a window of a few hours covers late listings and daemon restarts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import (
    LANDING_PREFIX,
    PARTITION_FMT,
    PROCESSING_FAILED_PREFIX,
    QUARANTINE_PREFIX,
)

CURSOR_VERSION = 1
DEFAULT_LOOKBACK_HOURS = 3
# Prefixes whose objects belong to an hourly landing partition: delivered records, the records
# the processor refused (quarantined) and those of failed invocations (reconciliation counts all).
WATCHED_PREFIXES = (LANDING_PREFIX, QUARANTINE_PREFIX, PROCESSING_FAILED_PREFIX)

ListKeys = Callable[[str], Iterable[str]]


def key_digest(key: str) -> str:
    """A 16-hex-char digest of a key: 64 bits keeps collisions negligible at millions of keys."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def normalise_key(key: str, *, url_encoded: bool = False) -> str | None:
    """The object key as S3 stores it, or None for directory markers (``…/``).

    Keys from S3 event notifications are URL-encoded (``/`` as ``%2F``, space as ``+``);
    keys from ListObjectsV2 are already decoded by botocore.
    """
    if url_encoded:
        key = unquote_plus(key)
    if not key or key.endswith("/"):
        return None
    return key


def partition_of(key: str) -> str | None:
    """The ``YYYY/MM/DD/HH`` partition of a landing or error key, or None if it has none."""
    for prefix in WATCHED_PREFIXES:
        if key.startswith(prefix):
            hour = key[len(prefix) : len(prefix) + 13]
            try:
                datetime.strptime(hour, PARTITION_FMT)
            except ValueError:
                return None
            return hour
    return None


def recent_partitions(now: datetime, lookback_hours: int) -> list[str]:
    """Partition keys from ``lookback_hours`` ago up to ``now``'s hour, oldest first."""
    # The format keeps only the hour, so minutes and seconds need no truncating.
    now = now.astimezone(UTC)
    return [
        (now - timedelta(hours=h)).strftime(PARTITION_FMT) for h in range(lookback_hours, -1, -1)
    ]


@dataclass
class ScanResult:
    new_keys: dict[str, list[str]]  # partition -> new keys, sorted
    cursor: str
    listed: int

    @property
    def new_count(self) -> int:
        return sum(len(keys) for keys in self.new_keys.values())


@dataclass
class SeenKeys:
    """Per-partition sets of key digests; serialised as the sensor cursor."""

    by_partition: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SeenKeys:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown landing cursor version {data.get('v')!r}")
        return cls({p: set(digests) for p, digests in data["seen"].items()})

    def to_cursor(self) -> str:
        seen = {p: sorted(d) for p, d in sorted(self.by_partition.items())}
        return json.dumps({"v": CURSOR_VERSION, "seen": seen}, separators=(",", ":"))

    def add(self, partition: str, key: str) -> bool:
        """Record ``key``; True if it was not seen before."""
        digests = self.by_partition.setdefault(partition, set())
        digest = key_digest(key)
        if digest in digests:
            return False
        digests.add(digest)
        return True

    def forget_before(self, oldest_partition: str) -> None:
        # Partition keys are zero-padded YYYY/MM/DD/HH, so string order is time order.
        for partition in [p for p in self.by_partition if p < oldest_partition]:
            del self.by_partition[partition]


def scan_landing(
    list_keys: ListKeys,
    cursor: str | None,
    *,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> ScanResult:
    """List the recent landing and error hours; return keys not in the cursor and the new cursor.

    ``list_keys(prefix)`` yields every key under ``prefix`` (see ``s3_key_lister``).
    """
    partitions = recent_partitions(now or datetime.now(UTC), lookback_hours)
    seen = SeenKeys.from_cursor(cursor)
    new_keys: dict[str, list[str]] = {}
    listed = 0
    for partition in partitions:
        for prefix in WATCHED_PREFIXES:
            for raw_key in list_keys(f"{prefix}{partition}/"):
                listed += 1
                key = normalise_key(raw_key)
                if key is None or partition_of(key) != partition:
                    continue
                if seen.add(partition, key):
                    new_keys.setdefault(partition, []).append(key)
    seen.forget_before(partitions[0])
    return ScanResult(
        new_keys={p: sorted(keys) for p, keys in sorted(new_keys.items())},
        cursor=seen.to_cursor(),
        listed=listed,
    )


def s3_key_lister(s3_client, bucket: str) -> ListKeys:
    """A ``list_keys`` over ListObjectsV2 with boto3's paginator."""

    def list_keys(prefix: str) -> Iterable[str]:
        return iter_keys(s3_client, bucket, prefix)

    return list_keys
