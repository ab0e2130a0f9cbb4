"""The dataset a replay reads, and the batch cutter: dataset rows into PutRecordBatch batches.

The parent process reads the dataset's parts in order through one reusable 8 MiB buffer
(``readinto``; parts flow into each other, so batches span part boundaries) and cuts batches
without parsing JSON: it jumps 500 average line lengths ahead, counts the line ends in between
in C, walks the few lines of difference, and ships the slice as one ``bytes`` object (one copy,
one pickle). That is about a microsecond per row; the workers split a batch into records with
one ``split``. A batch holds at most 500 records and 4 MiB of record data (AWS's limits); a
record over 1,000 KiB is never sent but routed, with its reason, to the dead-letter output in
the batch it belongs to. Records are the raw NDJSON lines including their ``"\\n"``, because
Firehose adds no delimiter. Only the time-compressed mode looks inside a line, and only at
``trans_date_trans_time``, to stamp each batch with its first event time and to cut a batch
where the events cross ``max_lead_s`` of replay time, so no record leaves much before it is due.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.schema import SOURCE_TIMESTAMP_FORMAT

# PutRecordBatch limits (AWS Firehose API reference).
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
# Each record gains ``,"replay_id":"<id>"`` in the worker: batches are cut with room for it.
MAX_TAG_BYTES = len(b',"replay_id":""') + 128
RECORD_TOO_LARGE = "RecordTooLarge"

_CHUNK_BYTES = 8 * 1024 * 1024
_TIME_KEY = b'"trans_date_trans_time"'
_TIME_LEN = len("2019-01-01 00:00:18")
_ROW_ID = re.compile(rb'"row_id"\s*:\s*(-?\d+)')


@dataclass(frozen=True)
class DatasetPart:
    path: Path
    rows: int


@dataclass(frozen=True)
class Dataset:
    """An NDJSON dataset directory as written by ``ingest.convert``."""

    path: Path
    rows: int
    parts: tuple[DatasetPart, ...]
    manifest: dict[str, Any]
    # Of manifest.json, which names every part with its rows and bytes: a new conversion of
    # other data changes it.
    fingerprint: str = ""

    @classmethod
    def open(cls, path: Path) -> Dataset:
        path = Path(path)
        manifest_path = path / "manifest.json"
        try:
            raw = manifest_path.read_bytes()
            manifest = json.loads(raw)
        except FileNotFoundError:
            raise ReplayError(f"{path} is not an NDJSON dataset: no manifest.json") from None
        except json.JSONDecodeError as exc:
            raise ReplayError(f"{manifest_path} is not valid JSON: {exc}") from None
        try:
            parts = tuple(DatasetPart(path / p["name"], int(p["rows"])) for p in manifest["parts"])
            rows = int(manifest["rows"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayError(f"{manifest_path} lacks parts[].name/rows or rows: {exc}") from None
        missing = [p.path.name for p in parts if not p.path.is_file()]
        if missing:
            raise ReplayError(f"{path}: parts listed in manifest.json are missing: {missing}")
        for entry in manifest["parts"]:
            size = (path / entry["name"]).stat().st_size
            if "bytes" in entry and size != entry["bytes"]:
                raise ReplayError(
                    f"{path / entry['name']} is {size} bytes but manifest.json says "
                    f"{entry['bytes']}; the dataset changed after conversion (convert it again)"
                )
        if sum(p.rows for p in parts) != rows:
            raise ReplayError(
                f"{manifest_path}: parts hold {sum(p.rows for p in parts)} rows, "
                f"manifest says {rows}"
            )
        return cls(path, rows, parts, manifest, hashlib.sha256(raw).hexdigest())


class Reject(NamedTuple):
    """A line that is never sent, with its error code and reason, bound for the dead letters."""

    line: bytes
    code: str
    reason: str


@dataclass(slots=True)
class Batch:
    """Dataset rows [first_row, end_row): ``payload`` is the records to send, back to back."""

    seq: int
    first_row: int
    end_row: int
    payload: bytes
    count: int
    rejects: list[Reject]
    event_time: datetime | None = None


def row_id_of(line: bytes) -> int | None:
    """The ``row_id`` of an NDJSON line, or None if it has none."""
    m = _ROW_ID.search(line, 0, 200)
    return int(m.group(1)) if m else None


def _event_time_bytes(buf: bytes, start: int, end: int) -> bytes | None:
    k = buf.find(_TIME_KEY, start, end)
    if k < 0:
        return None
    q = buf.find(b'"', k + len(_TIME_KEY), end)
    if q < 0 or q + 1 + _TIME_LEN > end:
        return None
    return buf[q + 1 : q + 1 + _TIME_LEN]


def _parse_time(raw: bytes | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return datetime.strptime(raw.decode(), SOURCE_TIMESTAMP_FORMAT)
    except (ValueError, UnicodeDecodeError):
        return None


class _LineStream:
    """Whole lines read from a sequence of files through one reusable buffer.

    Valid data is ``buf[start:end]``. Reusing one buffer (``readinto``) instead of allocating
    a fresh ``bytes`` per read avoids page-faulting 8 MiB of new memory per chunk, which cost
    more than everything else the parent does per row.
    """

    def __init__(self, size: int) -> None:
        self.buf = bytearray(size)
        self.start = 0
        self.end = 0

    def fill(self, f: Any) -> int:
        """Move the unconsumed tail to the front and read more; 0 at end of file."""
        live = self.end - self.start
        if self.start:
            self.buf[:live] = self.buf[self.start : self.end]
            self.start, self.end = 0, live
        if self.end == len(self.buf):  # a line longer than the buffer
            self.buf.extend(bytes(len(self.buf)))
        with memoryview(self.buf) as view:
            n = f.readinto(view[self.end :])
        self.end += n
        return n

    def end_file(self) -> None:
        """The last line of a file may lack its newline; Firehose needs one. ``fill`` has just
        read nothing into a buffer it made room in, so the newline fits."""
        if self.end > self.start and self.buf[self.end - 1] != 0x0A:
            self.buf[self.end] = 0x0A
            self.end += 1

    def skip_lines(self, n: int) -> int:
        """Consume up to ``n`` complete lines; returns how many are still to skip."""
        find = self.buf.find
        while n:
            j = find(b"\n", self.start, self.end)
            if j < 0:
                break
            self.start = j + 1
            n -= 1
        return n


class BatchPlanner:
    """Cuts dataset rows [start_row, end_row) into PutRecordBatch-sized batches."""

    def __init__(
        self,
        dataset: Dataset,
        start_row: int,
        end_row: int,
        *,
        max_records: int = MAX_BATCH_RECORDS,
        speed: float | None = None,
        max_lead_s: float = 0.2,
        chunk_bytes: int = _CHUNK_BYTES,
    ) -> None:
        self.dataset = dataset
        self.start_row = start_row
        self.end_row = min(end_row, dataset.rows)
        self.max_records = max_records
        self.speed = speed or None
        # A batch spans at most this much event time (never under a second: the timestamps
        # have one-second resolution).
        self.window = timedelta(seconds=max(1.0, (self.speed or 0) * max_lead_s))
        self.chunk_bytes = chunk_bytes
        self.seq = 0
        self.first_row_id: int | None = None
        self.last_row_id: int | None = None
        self._avg_line = 512.0

    def __iter__(self) -> Iterator[Batch]:
        stream = _LineStream(self.chunk_bytes)
        row = self.start_row
        for path, skip in self._parts():
            with path.open("rb") as f:
                while row < self.end_row:
                    eof = stream.fill(f) == 0
                    if eof:
                        stream.end_file()
                    skip = stream.skip_lines(skip)
                    while not skip and row < self.end_row:
                        batch = self._cut(stream, row, final=False)
                        if batch is None:
                            break
                        row = batch.end_row
                        yield batch
                    if eof:
                        break
        while row < self.end_row and stream.start < stream.end:
            batch = self._cut(stream, row, final=True)
            assert batch is not None
            row = batch.end_row
            yield batch
        if row < self.end_row:
            raise ReplayError(
                f"{self.dataset.path} ends after {row} rows but its manifest.json says "
                f"{self.dataset.rows}; the dataset is inconsistent (convert it again)"
            )

    def _parts(self) -> Iterator[tuple[Path, int]]:
        """The parts holding rows [start_row, end_row), with the lines to skip in each."""
        row = 0
        for part in self.dataset.parts:
            if row >= self.end_row:
                return
            if row + part.rows > self.start_row:
                yield part.path, max(0, self.start_row - row)
            row += part.rows

    def _cut(self, s: _LineStream, row: int, *, final: bool) -> Batch | None:
        """The next batch at the stream's start; None if it may continue beyond the data read
        so far (unless ``final``). Consumes what the batch covers."""
        max_lines = min(self.max_records, self.end_row - row)
        if self.speed is None:
            buf, pos = s.buf, s.start
            end, n = self._after_lines(buf, pos, s.end, max_lines)
            if n == 0 or (n < max_lines and not final):
                return None
            # Under 1,000 KiB in total, no record can be too large and the batch is within
            # 4 MiB: the common case needs no look at single lines.
            if end - pos <= MAX_RECORD_BYTES - MAX_TAG_BYTES:
                with memoryview(buf) as view:
                    payload = bytes(view[pos:end])
                s.start = end
                k = buf.rfind(b"\n", pos, end - 1)
                self._note_row_ids(buf, pos, k + 1 if k >= 0 else pos, end)
                return self._batch(row, n, payload, [], None, n)
        return self._cut_lines(s, row, max_lines, final=final)

    def _after_lines(self, buf: bytearray, pos: int, limit: int, want: int) -> tuple[int, int]:
        """(offset just past the ``want``-th line end from ``pos``, lines found): fewer lines
        if the data runs out first.

        Jumps ``want`` average lines ahead, counts the line ends in between in C and walks the
        few lines of difference, instead of 500 ``find`` calls from Python per batch.
        """
        guess = min(limit, pos + int(self._avg_line * want))
        n = buf.count(b"\n", pos, guess)
        j = buf.rfind(b"\n", pos, guess)
        end = j + 1 if j >= 0 else pos
        while n > want:
            end = buf.rfind(b"\n", pos, end - 1) + 1
            n -= 1
        while n < want:
            j = buf.find(b"\n", end, limit)
            if j < 0:
                break
            end = j + 1
            n += 1
        if n:
            self._avg_line = (end - pos) / n
        return end, n

    def _cut_lines(self, s: _LineStream, row: int, max_lines: int, *, final: bool) -> Batch | None:
        """Line by line: oversized records, the 4 MiB cap and event-time boundaries."""
        buf, pos, limit = s.buf, s.start, s.end
        find = buf.find
        pieces: list[memoryview] = []
        rejects: list[Reject] = []
        size = 0
        boundary: bytes | None = None
        first_time: datetime | None = None
        cur = last = pos
        with memoryview(buf) as view:
            while len(pieces) + len(rejects) < max_lines:
                j = find(b"\n", cur, limit)
                if j < 0:
                    if not final:
                        return None
                    break
                line_end = j + 1
                length = line_end - cur
                if length + MAX_TAG_BYTES > MAX_RECORD_BYTES:
                    reason = (
                        f"record is {length:,} bytes; with its replay_id tag it would exceed "
                        f"Firehose's limit of {MAX_RECORD_BYTES:,} bytes (1,000 KiB) per record"
                    )
                    rejects.append(Reject(bytes(view[cur:line_end]), RECORD_TOO_LARGE, reason))
                    last, cur = cur, line_end
                    continue
                tagged = size + length + MAX_TAG_BYTES * (len(pieces) + 1)
                if len(pieces) == self.max_records or tagged > MAX_BATCH_BYTES:
                    break
                if self.speed is not None:
                    stamp = _event_time_bytes(buf, cur, j)
                    if not pieces:
                        first_time = _parse_time(stamp)
                        if first_time is not None:
                            boundary = (
                                (first_time + self.window)
                                .strftime(SOURCE_TIMESTAMP_FORMAT)
                                .encode()
                            )
                    elif boundary is not None and stamp is not None and stamp >= boundary:
                        break
                pieces.append(view[cur:line_end])
                size += length
                last, cur = cur, line_end
            if not pieces and not rejects:
                return None
            count = len(pieces)
            payload = b"".join(pieces)
            pieces.clear()  # release the views before the buffer may be resized
        s.start = cur
        self._note_row_ids(buf, pos, last, cur)
        return self._batch(row, count + len(rejects), payload, rejects, first_time, count)

    def _note_row_ids(self, buf: bytearray, first: int, last: int, end: int) -> None:
        """Remember the row_id of the first line sent and of the latest line."""
        if self.first_row_id is None:
            self.first_row_id = row_id_of(bytes(buf[first : min(end, first + 200)]))
        self.last_row_id = row_id_of(bytes(buf[last : min(end, last + 200)]))

    def _batch(
        self,
        row: int,
        rows: int,
        payload: bytes,
        rejects: list[Reject],
        event_time: datetime | None,
        count: int,
    ) -> Batch:
        batch = Batch(self.seq, row, row + rows, payload, count, rejects, event_time)
        self.seq += 1
        return batch
