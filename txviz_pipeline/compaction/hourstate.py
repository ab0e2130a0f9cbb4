"""What compaction has merged of one arrival hour: its manifest and its set of trans_num digests.

Per hour, under ``curated/_compaction/arrival_hour=YYYY-MM-DD-HH/``:

- ``manifest.json``, the commit point: the curated parts of the hour, the 64-bit digests of the
  landing keys they hold, the hour's running counts and the name of its digest set. Its size is
  a few bytes per part and 8 bytes per landing object, whatever the rows.
- ``trans_nums-NNNNN.u64``: the sorted 64-bit digests of every trans_num written to the hour,
  8 bytes a row (10 MiB for a 1.3M-row hour), so a new part is de-duplicated against the earlier
  ones without reading them. Generation NNNNN is the number of parts it covers; a new one is
  written before the manifest that names it, so a crash leaves the old manifest and old set
  consistent.

Two trans_nums share a 64-bit digest with probability about n²/2⁶⁵ (3·10⁻⁸ for a 1.3M-row hour);
the later one would then be counted as a duplicate.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import orjson

from txviz_pipeline.compaction.layout import manifest_key, trans_nums_key

MANIFEST_VERSION = 1


def digests(values: Iterable[str]) -> np.ndarray:
    """The 64-bit blake2b digests of ``values``, in their order, as uint64."""
    raw = b"".join(hashlib.blake2b(v.encode(), digest_size=8).digest() for v in values)
    return np.frombuffer(raw, dtype="<u8")


def contains(sorted_set: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Which ``values`` are in ``sorted_set`` (ascending), without copying the set."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), dtype=bool)
    at = np.searchsorted(sorted_set, values)
    at[at == len(sorted_set)] = 0
    return sorted_set[at] == values


@dataclass(frozen=True)
class Counts:
    """Lines read, rows written, bad lines and duplicates removed: lines = the other three."""

    objects: int = 0
    lines: int = 0
    rows: int = 0
    bad_lines: int = 0
    duplicates_removed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(self.as_tuple(), other.as_tuple(), strict=True)))

    def as_tuple(self) -> tuple[int, ...]:
        return (self.objects, self.lines, self.rows, self.bad_lines, self.duplicates_removed)

    @property
    def reconciles(self) -> bool:
        return self.lines == self.rows + self.bad_lines + self.duplicates_removed


@dataclass(frozen=True)
class Part:
    key: str
    rows: int
    bytes: int


@dataclass(frozen=True)
class HourState:
    """One hour's manifest: committed parts, landing keys merged (digests) and running counts."""

    partition: str
    parts: tuple[Part, ...] = ()
    object_digests: frozenset[int] = field(default_factory=frozenset)
    counts: Counts = Counts()
    # The key of the trans_num digest set covering every part (None before the first part).
    trans_nums_key: str | None = None

    def merged(self, key: str) -> bool:
        return int(digests([key])[0]) in self.object_digests

    def commit(
        self, part: Part | None, keys: list[str], counts: Counts, trans_nums_key: str | None
    ):
        """The state after one more batch of landing ``keys`` (written as ``part``, if any)."""
        return replace(
            self,
            parts=self.parts + ((part,) if part else ()),
            object_digests=self.object_digests | {int(d) for d in digests(keys)},
            counts=self.counts + counts,
            trans_nums_key=trans_nums_key or self.trans_nums_key,
        )

    def to_json(self) -> bytes:
        packed = np.array(sorted(self.object_digests), dtype="<u8").tobytes()
        return orjson.dumps(
            {
                "version": MANIFEST_VERSION,
                "partition": self.partition,
                "parts": [vars(p) for p in self.parts],
                "objects": base64.b64encode(packed).decode(),
                "counts": vars(self.counts),
                "trans_nums": self.trans_nums_key,
            }
        )

    @classmethod
    def from_json(cls, data: bytes) -> HourState:
        doc = orjson.loads(data)
        if doc.get("version") != MANIFEST_VERSION:
            raise ValueError(f"compaction manifest version {doc.get('version')!r} is not supported")
        packed = np.frombuffer(base64.b64decode(doc["objects"]), dtype="<u8")
        return cls(
            partition=doc["partition"],
            parts=tuple(Part(**p) for p in doc["parts"]),
            object_digests=frozenset(int(d) for d in packed),
            counts=Counts(**doc["counts"]),
            trans_nums_key=doc["trans_nums"],
        )


class HourStore:
    """Reads and writes one hour's manifest and trans_num digest set in S3."""

    def __init__(self, s3, bucket: str, partition: str):
        self._s3, self._bucket, self._partition = s3, bucket, partition

    def load(self) -> HourState:
        try:
            body = self._get(manifest_key(self._partition))
        except self._s3.exceptions.NoSuchKey:
            return HourState(self._partition)
        return HourState.from_json(body)

    def load_trans_nums(self, state: HourState) -> np.ndarray:
        if state.trans_nums_key is None:
            return np.zeros(0, dtype="<u8")
        return np.frombuffer(self._get(state.trans_nums_key), dtype="<u8")

    def save_trans_nums(self, generation: int, sorted_set: np.ndarray) -> str:
        key = trans_nums_key(self._partition, generation)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=sorted_set.astype("<u8").tobytes())
        return key

    def save(self, state: HourState) -> None:
        """Commit ``state``: from here on its parts are the hour's, its keys merged."""
        self._s3.put_object(
            Bucket=self._bucket, Key=manifest_key(self._partition), Body=state.to_json()
        )

    def _get(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
