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

A scan may report at most ``limit`` new objects, for a reader that must finish within a time
budget (each object read costs a GET): the oldest by LastModified, then key. The others are
left for later scans: their digests stay out of the cursor, and the floor stays at or below the
oldest one's LastModified, so a later scan reports each of them once. Meanwhile the cursor holds
the digests of reported objects from that LastModified on, which with the oldest reported first
are few.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
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
    deferred: int = 0  # new keys past the scan's limit, left for a later scan
    # partition -> LastModified of its oldest and newest new key (None where unknown)
    span: dict[str, tuple[datetime | None, datetime | None]] = field(default_factory=dict)

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


class _Unsettled(NamedTuple):
    """A listed object that the previous scan's floor does not settle."""

    key: str
    partition: str
    last_modified: datetime | None
    digest: bytes


def _age(obj: _Unsettled) -> tuple[float, str]:
    """Oldest first, then by key; an object of unknown age first (no floor ever settles it)."""
    modified = obj.last_modified.timestamp() if obj.last_modified else float("-inf")
    return modified, obj.key


def scan_landing(
    list_objects: ListObjects,
    cursor: str | None,
    *,
    now: datetime | None = None,
    lookback_hours: int = DEFAULT_LOOKBACK_HOURS,
    limit: int | None = None,
) -> ScanResult:
    """List the recent landing and error hours; return keys not in the cursor and the new cursor.

    ``list_objects(prefix)`` yields every object under ``prefix`` (see ``s3_lister``): its key
    and LastModified (None if unknown: the object's digest is then kept while its hour is in
    the window). ``limit``: report at most this many new keys, the oldest; the rest are
    ``deferred`` to a later scan (see the module's docstring).
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    now = now or datetime.now(UTC)  # taken before listing: see the module's docstring
    previous = SeenKeys.from_cursor(cursor)
    unsettled: list[_Unsettled] = []
    listed = 0
    for partition in recent_partitions(now, lookback_hours):
        for prefix in WATCHED_PREFIXES:
            for raw_key, last_modified in list_objects(f"{prefix}{partition}/"):
                listed += 1
                key = normalise_key(raw_key)
                if key is None or partition_of(key) != partition:
                    continue
                if not previous.settled(last_modified):
                    unsettled.append(_Unsettled(key, partition, last_modified, key_digest(key)))
    new = sorted((o for o in unsettled if o.digest not in previous.digests), key=_age)
    reported = new if limit is None else new[:limit]
    deferred = new[len(reported) :]

    floor = now.timestamp() - SETTLE.total_seconds()
    if previous.floor is not None:
        floor = max(floor, previous.floor)
    # Held at the oldest deferred object, so a later scan lists it as unsettled; never below
    # the previous floor, since that floor settles none of the new objects.
    dated = [o.last_modified.timestamp() for o in deferred if o.last_modified]
    floor = min([floor, *dated])
    kept = SeenKeys(floor=floor)
    deferred_keys = {o.key for o in deferred}
    kept.digests = {
        o.digest
        for o in unsettled
        if o.key not in deferred_keys and not kept.settled(o.last_modified)
    }
    new_keys: dict[str, list[str]] = {}
    span: dict[str, tuple[datetime | None, datetime | None]] = {}
    for obj in reported:  # oldest first
        new_keys.setdefault(obj.partition, []).append(obj.key)
        span[obj.partition] = (span.get(obj.partition, (obj.last_modified,))[0], obj.last_modified)
    return ScanResult(
        new_keys={p: sorted(keys) for p, keys in sorted(new_keys.items())},
        cursor=kept.to_cursor(),
        listed=listed,
        deferred=len(deferred),
        span=span,
    )


def s3_lister(s3_client, bucket: str) -> ListObjects:
    """A ``list_objects`` over ListObjectsV2 with boto3's paginator."""

    def list_objects(prefix: str) -> Iterable[tuple[str, datetime | None]]:
        return ((o.key, o.last_modified) for o in iter_objects(s3_client, bucket, prefix))

    return list_objects
