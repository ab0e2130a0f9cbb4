"""Merge the landing objects of one arrival hour that are new since the last run into curated/.

Each run reads only the landing objects its hour's manifest does not list yet (each object is
read once, ever), streams their valid records in batches of ``batch_rows`` through the hour's
set of trans_num digests (dropping copies of records already written, in this run or an earlier
one), and writes what is left as one new Parquet part of the hour. Memory is bounded by the batch
and the fetch window, not by the hour: the part is written to a local temporary file and
uploaded from it, and only the digest set (8 bytes a row) grows with the hour.

A run commits in three writes: the part, the new digest set, then the manifest. A run that
stops before the manifest leaves a part that no manifest lists; the next run of the hour deletes
it before anything else and reads its objects again, so a crash never duplicates or loses a
row. Runs of one hour must not overlap (the instance runs one run per partition at a time).

Counts reconcile per run and per hour: ``lines == rows_written + bad_lines + duplicates_removed``.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from txviz_pipeline import aws
from txviz_pipeline.compaction.hourstate import Counts, HourState, HourStore, Part, contains
from txviz_pipeline.compaction.hourstate import digests as trans_num_digests
from txviz_pipeline.compaction.layout import (
    curated_hour_prefix,
    curated_part_key,
    landing_prefix,
    manifest_key,
    partition_hour,
    state_prefix,
)
from txviz_pipeline.compaction.records import (
    LineTally,
    landing_arrow_schema,
    landing_batches,
    sort_by_event_time,
)
from txviz_pipeline.s3objects import S3Object, iter_keys, iter_objects
from txviz_pipeline.settings import Settings

log = logging.getLogger(__name__)

PARQUET_COMPRESSION = "zstd"
# Rows parsed, de-duplicated and written at a time: one Parquet row group each.
BATCH_ROWS = 16_384
# Objects are small (one Firehose delivery each) and S3 latency dominates: fetch a few at once,
# but never more than this many bytes at a time (a Firehose object can reach 128 MiB).
FETCH_THREADS = 8
FETCH_WINDOW_BYTES = 32 << 20


@dataclass(frozen=True)
class CompactionResult:
    """One run: what it read and wrote (``run``) and the hour's totals after it (``hour``)."""

    partition_key: str
    run: Counts
    hour: Counts
    parts: int
    # s3 key of the part this run wrote, or None when it wrote none.
    key: str | None
    bytes_written: int = 0
    # parts left by runs that stopped before their manifest, deleted before reading.
    orphans_removed: int = 0

    @property
    def written(self) -> bool:
        return self.key is not None

    @property
    def reconciles(self) -> bool:
        return self.run.reconciles and self.hour.reconciles


def compact_partition(
    settings: Settings,
    partition_key: str,
    *,
    rebuild: bool = False,
    batch_rows: int = BATCH_ROWS,
) -> CompactionResult:
    """Merge the new landing objects of ``partition_key`` into its curated parts.

    ``rebuild`` forgets what was merged and compacts the whole hour again from landing.
    """
    partition_hour(partition_key)  # validates the key before anything is touched
    s3 = aws.client("s3", settings)
    bucket = settings.bucket
    store = HourStore(s3, bucket, partition_key)
    if rebuild:
        s3.delete_object(Bucket=bucket, Key=manifest_key(partition_key))
    state = store.load()
    orphans = _remove_uncommitted(s3, bucket, state)
    new = [
        o
        for o in iter_objects(s3, bucket, landing_prefix(partition_key))
        if not state.merged(o.key)
    ]
    if not new:
        return _finish(
            CompactionResult(
                partition_key, Counts(), state.counts, len(state.parts), None, 0, orphans
            )
        )

    seen = store.load_trans_nums(state)
    generation = len(state.parts)
    key = curated_part_key(partition_key, generation)
    tally = LineTally()
    rows = duplicates = 0
    with tempfile.TemporaryDirectory(prefix="txviz-compact-") as tmp:
        path = Path(tmp) / "part.parquet"
        with pq.ParquetWriter(path, landing_arrow_schema(), compression=PARQUET_COMPRESSION) as out:
            for batch in landing_batches(_lines(s3, bucket, new), batch_rows, tally):
                fresh, seen = _first_copies(batch, seen)
                duplicates += batch.num_rows - fresh.num_rows
                if fresh.num_rows:
                    out.write_table(sort_by_event_time(fresh), row_group_size=batch_rows)
                    rows += fresh.num_rows
        if tally.bad:
            log.warning(
                "%s: %d of %d lines rejected, e.g. %s",
                partition_key,
                tally.bad,
                tally.lines,
                tally.reasons,
            )
        run = Counts(len(new), tally.lines, rows, tally.bad, duplicates)
        part = None
        if rows:
            s3.upload_file(str(path), bucket, key)
            part = Part(key, rows, path.stat().st_size)
    previous = state.trans_nums_key
    digests_key = store.save_trans_nums(generation + 1, seen) if part else None
    state = state.commit(part, [o.key for o in new], run, digests_key)
    store.save(state)
    if digests_key and previous:
        s3.delete_object(Bucket=bucket, Key=previous)
    return _finish(
        CompactionResult(
            partition_key,
            run,
            state.counts,
            len(state.parts),
            part.key if part else None,
            part.bytes if part else 0,
            orphans,
        )
    )


def _remove_uncommitted(s3, bucket: str, state: HourState) -> int:
    """Delete the hour's parts and digest sets that its manifest does not name."""
    keep = {p.key for p in state.parts} | {manifest_key(state.partition), state.trans_nums_key}
    stale = [
        k
        for prefix in (curated_hour_prefix(state.partition), state_prefix(state.partition))
        for k in iter_keys(s3, bucket, prefix)
        if k not in keep
    ]
    for key in stale:
        log.warning("%s: deleting %s, which the manifest does not name", state.partition, key)
        s3.delete_object(Bucket=bucket, Key=key)
    return sum(1 for k in stale if k.endswith(".parquet"))


def _first_copies(batch: pa.Table, seen: np.ndarray) -> tuple[pa.Table, np.ndarray]:
    """The rows of ``batch`` whose trans_num is new to the hour (first copy in the batch), and
    the digest set with theirs added."""
    digests = trans_num_digests(batch.column("trans_num").to_pylist())
    _, first = np.unique(digests, return_index=True)
    keep = np.zeros(len(digests), dtype=bool)
    keep[first] = True
    keep &= ~contains(seen, digests)
    added = np.sort(digests[keep])
    # Two sorted runs: the stable sort (timsort) merges them in linear time.
    merged = np.concatenate([seen, added])
    merged.sort(kind="stable")
    return batch.filter(pa.array(keep)), merged


def _lines(s3, bucket: str, objects: list[S3Object]) -> Iterator[bytes]:
    """The lines of ``objects`` in key order, fetched a window at a time."""

    def fetch(obj: S3Object) -> bytes:
        return s3.get_object(Bucket=bucket, Key=obj.key)["Body"].read()

    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        for window in _windows(objects):
            for body in pool.map(fetch, window):
                yield from body.split(b"\n")


def _windows(objects: list[S3Object]) -> Iterator[list[S3Object]]:
    """Consecutive groups of at most FETCH_THREADS objects and FETCH_WINDOW_BYTES (or one)."""
    window: list[S3Object] = []
    size = 0
    for obj in objects:
        if window and (len(window) == FETCH_THREADS or size + obj.size > FETCH_WINDOW_BYTES):
            yield window
            window, size = [], 0
        window.append(obj)
        size += obj.size
    if window:
        yield window


def _finish(result: CompactionResult) -> CompactionResult:
    log.info(
        "compacted %s: %d new objects, %d lines -> %d rows (%d bad, %d duplicates) %s; "
        "hour: %d rows in %d parts",
        result.partition_key,
        result.run.objects,
        result.run.lines,
        result.run.rows,
        result.run.bad_lines,
        result.run.duplicates_removed,
        result.key or "(no new part)",
        result.hour.rows,
        result.parts,
    )
    return result
