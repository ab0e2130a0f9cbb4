"""Find every new object in the landing zone, exactly once, without a key or time cursor.

Firehose names objects ``<prefix>YYYY/MM/DD/HH/<stream>-<ver>-YYYY-MM-DD-HH-MM-SS-<uuid>``: keys
written in the same second sort by their random suffix, so a StartAfter cursor skips objects
that land behind it, and S3's one-second LastModified makes a time cursor miss objects that land
in the cursor's own second. Instead each scan lists the recent hour prefixes in full and
compares them with the keys already seen. An object can only land in the current arrival hour,
so a lookback window of a few hours covers late listings and daemon restarts.

The cursor stays small whatever the volume: it holds 8-byte digests (packed, base64) only of
the objects whose LastModified is within ``SETTLE`` of the last scan, and that scan's time less
``SETTLE`` as a floor. An object is listed once its PUT completes, seconds after its
LastModified (Firehose objects are at most 128 MiB), so every object older than the floor was
in that scan's listing and was reported then or before: later scans pass over it without a
digest. The cursor is about 11 bytes per object landed in ``SETTLE`` (10 minutes): ~180 KB at
100,000 objects an hour, where one digest per object of the whole window would be ~7.6 MB.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote_plus

from txviz_pipeline.s3objects import iter_objects
from txviz_pipeline.settings import (
    LANDING_PREFIX,
    PARTITION_FMT,
    PROCESSING_FAILED_PREFIX,
    QUARANTINE_PREFIX,
)

CURSOR_VERSION = 2
DEFAULT_LOOKBACK_HOURS = 3
# How long after its LastModified an object is surely in a listing (its PUT done, clocks apart).
SETTLE = timedelta(minutes=10)
DIGEST_BYTES = 8
# Prefixes whose objects belong to an hourly landing partition: delivered records, the records
# the processor refused (quarantined) and those of failed invocations (reconciliation counts all).
WATCHED_PREFIXES = (LANDING_PREFIX, QUARANTINE_PREFIX, PROCESSING_FAILED_PREFIX)

# prefix -> (key, LastModified or None) of every object under it.
ListObjects = Callable[[str], Iterable[tuple[str, datetime | None]]]


def key_digest(key: str) -> bytes:
    """An 8-byte digest of a key: 64 bits keeps collisions negligible at millions of keys."""
    return hashlib.blake2b(key.encode(), digest_size=DIGEST_BYTES).digest()


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
    """The keys already reported that may still be unsettled; serialised as the sensor cursor.

    ``floor``: objects last modified before it (epoch seconds) were all reported by an earlier
    scan. ``digests``: the reported objects modified at or after it.
    """

    digests: set[bytes] = field(default_factory=set)
    floor: float | None = None

    @classmethod
    def from_cursor(cls, cursor: str | None) -> SeenKeys:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        version = data.get("v")
        if version == 1:  # one hex digest per key and hour; no floor yet
            hexes = (d for digests in data["seen"].values() for d in digests)
            return cls({bytes.fromhex(d) for d in hexes})
        if version != CURSOR_VERSION:
            raise ValueError(f"unknown landing cursor version {version!r}")
        packed = base64.b64decode(data["seen"])
        digests = {packed[i : i + DIGEST_BYTES] for i in range(0, len(packed), DIGEST_BYTES)}
        return cls(digests, data["floor"])

    def to_cursor(self) -> str:
        packed = base64.b64encode(b"".join(sorted(self.digests))).decode()
        return json.dumps(
            {"v": CURSOR_VERSION, "floor": self.floor, "seen": packed}, separators=(",", ":")
        )

    def settled(self, last_modified: datetime | None) -> bool:
        """Reported by an earlier scan, with no digest needed to tell."""
        if self.floor is None or last_modified is None:
            return False
        return last_modified.timestamp() < self.floor


def scan_landing(
    list_objects: ListObjects,
    cursor: str | None,
    *,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
) -> ScanResult:
    """List the recent landing and error hours; return keys not in the cursor and the new cursor.

    ``list_objects(prefix)`` yields every object under ``prefix`` (see ``s3_lister``): its key
    and LastModified (None if unknown: the object's digest is then kept while its hour is in
    the window).
    """
    now = now or datetime.now(UTC)  # taken before listing: see the module's docstring
    previous = SeenKeys.from_cursor(cursor)
    floor = now.timestamp() - SETTLE.total_seconds()
    if previous.floor is not None:
        floor = max(floor, previous.floor)
    kept = SeenKeys(floor=floor)
    new_keys: dict[str, list[str]] = {}
    listed = 0
    for partition in recent_partitions(now, lookback_hours):
        for prefix in WATCHED_PREFIXES:
            for raw_key, last_modified in list_objects(f"{prefix}{partition}/"):
                listed += 1
                key = normalise_key(raw_key)
                if key is None or partition_of(key) != partition:
                    continue
                if previous.settled(last_modified):
                    continue
                digest = key_digest(key)
                if digest not in previous.digests:
                    new_keys.setdefault(partition, []).append(key)
                if not kept.settled(last_modified):
                    kept.digests.add(digest)
    return ScanResult(
        new_keys={p: sorted(keys) for p, keys in sorted(new_keys.items())},
        cursor=kept.to_cursor(),
        listed=listed,
    )


def s3_lister(s3_client, bucket: str) -> ListObjects:
    """A ``list_objects`` over ListObjectsV2 with boto3's paginator."""

    def list_objects(prefix: str) -> Iterable[tuple[str, datetime | None]]:
        return ((o.key, o.last_modified) for o in iter_objects(s3_client, bucket, prefix))

    return list_objects
