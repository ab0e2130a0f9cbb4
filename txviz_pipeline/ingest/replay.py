"""Replay an NDJSON dataset into Kinesis Firehose: batched, rate-limited, time-compressed,
resumable, in N processes.

How it works
------------
The **parent** process reads the dataset's parts in order through one reusable 8 MiB buffer
(``readinto``; parts flow into each other, so batches span part boundaries) and cuts
PutRecordBatch batches without parsing JSON: it jumps 500 average line lengths ahead, counts the
line ends in between in C, walks the few lines of difference, and ships the slice as one
``bytes`` object (one copy, one pickle). That is about a microsecond per row; the workers split
a batch into records with one ``splitlines``. A batch holds at most 500 records and 4 MiB of
record data (AWS's limits); a record over 1,000 KiB is never sent but routed, with its reason,
to the dead-letter output in the batch it belongs to. Records are the raw NDJSON lines including
their ``"\\n"``, because Firehose adds no delimiter. Only the time-compressed mode looks inside
a line, and only at ``trans_date_trans_time``, to stamp each batch with its first event time and
to cut a batch where the events cross ``max_lead_s`` of replay time, so no record leaves much
before it is due.

The parent hands batches to **N worker processes** (``processes``, default ``os.cpu_count()``)
over a bounded queue (2 per worker), so reading never runs far ahead of sending and memory stays
flat. Each worker owns its boto3 Firehose client (``aws.client``, with botocore's own retries
off, because the worker retries per record itself) and, before every call, including retries,
reserves the call's records, bytes and one request from **one rate limiter shared by all
workers** (three token buckets in shared memory, see ``ratelimit.py``). Pacing at the point of
sending, rather than in the parent, keeps a backlog in the queue from turning into a burst
above the quota, and makes retries count against it too.

A worker resends exactly the entries a call reports as failed (``FailedPutCount`` and
per-index ``ErrorCode``), and retries a whole call that raised a throttling or 5xx error, with
exponential backoff and full jitter, for at most ``max_attempts`` attempts. Errors that no retry
can fix (an unknown stream, an invalid request) stop the replay at once with a clear message.
Whatever still fails is written with its reason to
``s3://<bucket>/errors/replay-failed/<replay_id>/rows-<first>-<end>.ndjson`` (one object per
batch that had failures; a local copy under ``settings.dead_letter_dir`` if S3 itself fails)
*before* the worker reports the batch done, so an acknowledged batch is never lost.

Workers report (batch, sent, retried, failed) back; the parent keeps the **low watermark** of
contiguously acknowledged batches and saves it as the checkpoint (see ``checkpoint.py``) every
``checkpoint_every_s``. A replay killed at any instant and started again with the same
``replay_id`` restarts from the watermark: rows in flight at the kill are sent again
(at-least-once), no row is skipped. Progress goes to ``on_progress`` every ``progress_every_s``
from the parent; at the end a manifest (dataset, rows requested, row_id range, counts) is
written to ``s3://<bucket>/replays/<replay_id>/manifest.json`` for reconciliation.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import queue
import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from txviz_pipeline import aws
from txviz_pipeline.ingest.checkpoint import (
    Checkpoint,
    CheckpointStore,
    checkpoint_store,
    validate_replay_id,
)
from txviz_pipeline.ingest.ratelimit import (
    DEFAULT_BYTES_PER_S,
    DEFAULT_RECORDS_PER_S,
    DEFAULT_REQUESTS_PER_S,
    Limits,
    RateLimiter,
)
from txviz_pipeline.processes import pid_alive
from txviz_pipeline.schema import REPLAY_ID_FIELD, SOURCE_TIMESTAMP_FORMAT
from txviz_pipeline.settings import REPLAY_FAILED_PREFIX, REPLAY_PREFIX, Settings

logger = logging.getLogger(__name__)

# PutRecordBatch limits (AWS Firehose API reference).
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1000 * 1024
# Each record gains ``,"replay_id":"<id>"`` in the worker: batches are cut with room for it.
MAX_TAG_BYTES = len(b',"replay_id":""') + 128


def tagged_records(payload: bytes, replay_id: str) -> list[bytes]:
    """A batch's records, each converted record gaining ``"replay_id"``, in one pass.

    Converted records are flat JSON objects, one a line, so a line ending in ``}`` is one
    record whose object can be extended; any other line is sent unchanged and fails in the
    processor as before. Splitting at ``\n`` only keeps a stray ``\r`` inside its record.
    """
    tag = b',"%s":"%s"}\n' % (REPLAY_ID_FIELD.encode(), replay_id.encode())
    lines = payload.split(b"\n")
    lines.pop()  # every batch ends with a newline
    return [line[:-1] + tag if line[-1:] == b"}" else line + b"\n" for line in lines]


RECORD_TOO_LARGE = "RecordTooLarge"

# Whole-call errors worth retrying; any other ClientError below HTTP 500 fails the replay.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)
_NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)

_CHUNK_BYTES = 8 * 1024 * 1024
_TIME_KEY = b'"trans_date_trans_time"'
_TIME_LEN = len("2019-01-01 00:00:18")
_RNG = random.Random()
_ROW_ID = re.compile(rb'"row_id"\s*:\s*(-?\d+)')


class ReplayError(RuntimeError):
    """A replay that cannot go on: bad dataset, non-retryable AWS error, a worker died."""


@dataclass
class ReplayOptions:
    """What to replay and how fast. Rates default to one us-east-1 stream's Direct PUT quota."""

    rows: int | None = None  # first N rows of the dataset; None = all
    processes: int | None = None  # worker processes; None = os.cpu_count()
    speed: float | None = None  # event-time seconds per wall second; None/0 = as fast as possible
    max_records_per_s: float | None = DEFAULT_RECORDS_PER_S
    max_bytes_per_s: float | None = DEFAULT_BYTES_PER_S
    max_requests_per_s: float | None = DEFAULT_REQUESTS_PER_S
    max_attempts: int = 8  # per record, first send included
    replay_id: str | None = None  # None = a new id; reuse one to resume
    resume: bool = True  # continue from the replay id's checkpoint if there is one
    checkpoint_store: str = "local"  # "local" (checkpoint_dir) or "s3" (replays/<id>/)
    max_batch_records: int = MAX_BATCH_RECORDS
    max_lead_s: float = 0.2  # compressed mode: how early a record may leave before it is due
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 10.0
    checkpoint_every_s: float = 1.0
    progress_every_s: float = 2.0
    # Builds each worker's Firehose client; must be picklable (a module-level function).
    client_factory: Callable[[Settings], Any] | None = None

    def __post_init__(self) -> None:
        if self.rows is not None and self.rows < 0:
            raise ValueError(f"rows must be >= 0, got {self.rows}")
        if self.processes is not None and self.processes < 1:
            raise ValueError(f"processes must be >= 1, got {self.processes}")
        if self.speed is not None and self.speed < 0:
            raise ValueError(f"speed must be > 0 (or None/0 for as fast as possible): {self.speed}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if not 1 <= self.max_batch_records <= MAX_BATCH_RECORDS:
            raise ValueError(f"max_batch_records must be 1..{MAX_BATCH_RECORDS}")
        if self.checkpoint_store not in ("local", "s3"):
            raise ValueError(f"checkpoint_store must be 'local' or 's3': {self.checkpoint_store!r}")
        if self.replay_id is not None:
            validate_replay_id(self.replay_id)
        # Builds the limits now so a bad rate fails before any process starts.
        self.limits()

    def limits(self) -> Limits:
        return Limits(self.max_records_per_s, self.max_bytes_per_s, self.max_requests_per_s)


@dataclass(frozen=True)
class ReplayProgress:
    rows_done: int  # dataset rows acknowledged (sent or dead-lettered), resumed rows included
    rows_total: int  # rows this replay covers
    bytes_done: int  # record bytes acknowledged in this run
    elapsed_s: float
    records_per_s: float
    mib_per_s: float
    eta_s: float | None
    retried: int
    failed: int


@dataclass(frozen=True)
class ReplayResult:
    replay_id: str
    rows: int  # dataset rows handled in this run (sent + failed)
    bytes: int
    batches: int
    retried: int
    failed: int  # dead-lettered in this run
    duration_s: float
    records_per_s: float
    mib_per_s: float
    resumed_from_row: int
    dead_letter_key: str | None  # S3 prefix of this replay's dead-letter objects, if any failed
    sent: int = 0
    manifest_key: str | None = None
    dead_letter_local: tuple[str, ...] = ()  # local copies written because S3 failed
    checkpoint: str = ""
    startup_s: float = 0.0  # of duration_s, spent starting the worker processes


# --------------------------------------------------------------------------------------------
# The dataset and batch cutting (parent side)


@dataclass(frozen=True)
class DatasetPart:
    path: Path
    rows: int


@dataclass(frozen=True)
class Dataset:
    """An NDJSON dataset directory as written by ``ingest.convert``."""

    path: Path
    rows: int
    bytes: int
    parts: tuple[DatasetPart, ...]
    manifest: dict[str, Any]

    @classmethod
    def open(cls, path: Path) -> Dataset:
        path = Path(path)
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
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
        return cls(path, rows, int(manifest.get("bytes", 0)), parts, manifest)


@dataclass(slots=True)
class Batch:
    """Dataset rows [first_row, end_row): ``payload`` is the records to send, back to back."""

    seq: int
    first_row: int
    end_row: int
    payload: bytes
    count: int
    rejects: list[tuple[bytes, str, str]]  # (line, error code, reason), never sent
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
        """The last line of a file may lack its newline; Firehose needs one."""
        if self.end > self.start and self.buf[self.end - 1] != 0x0A:
            if self.end == len(self.buf):
                self.buf.append(0x0A)
            else:
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
        first_seq: int = 0,
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
        self.seq = first_seq
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
        rejects: list[tuple[bytes, str, str]] = []
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
                    rejects.append((bytes(view[cur:line_end]), RECORD_TOO_LARGE, reason))
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
        rejects: list[tuple[bytes, str, str]],
        event_time: datetime | None,
        count: int,
    ) -> Batch:
        batch = Batch(self.seq, row, row + rows, payload, count, rejects, event_time)
        self.seq += 1
        return batch


class Schedule:
    """Time-compressed pacing: a batch is due when its first event time comes round at
    ``speed`` event seconds per wall second, counted from the first batch of the run."""

    def __init__(
        self,
        speed: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        slice_s: float = 0.5,
    ) -> None:
        self.speed = speed or None
        self.clock = clock
        self.sleep = sleep
        self.slice_s = slice_s
        self._origin: tuple[float, datetime] | None = None
        self._last_due: float | None = None

    def due(self, event_time: datetime | None) -> float | None:
        """The clock time at which a batch with this first event time may leave."""
        if self.speed is None:
            return None
        if event_time is None:
            return self._last_due
        if self._origin is None:
            self._origin = (self.clock(), event_time)
        wall0, event0 = self._origin
        self._last_due = wall0 + (event_time - event0).total_seconds() / self.speed
        return self._last_due

    def wait(self, event_time: datetime | None) -> float:
        """Sleep (in slices, so the caller's sleep can do other work) until the batch is due."""
        due = self.due(event_time)
        waited = 0.0
        if due is None:
            return waited
        while (remaining := due - self.clock()) > 0:
            step = min(remaining, self.slice_s)
            self.sleep(step)
            waited += step
        return waited


# --------------------------------------------------------------------------------------------
# Sending (worker side)


@dataclass
class SendOutcome:
    sent: int = 0
    retried: int = 0  # record re-sends
    attempts: int = 0
    # (record index, error code, message, attempts) of records that never got through
    failures: list[tuple[int, str, str, int]] = field(default_factory=list)


class FatalSendError(ReplayError):
    """An error no retry can fix (unknown stream, invalid request, bad credentials)."""


def classify_error(exc: BaseException) -> tuple[str, str, bool]:
    """(error code, message, retryable) for an exception raised by put_record_batch."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        message = str(err.get("Message") or exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, message, code in RETRYABLE_CODES or status >= 500 or status == 429
    if isinstance(exc, _NETWORK_ERRORS):
        return type(exc).__name__, str(exc), True
    return type(exc).__name__, str(exc), False


def send_batch(
    client: Any,
    stream: str,
    records: list[bytes],
    *,
    max_attempts: int = 8,
    limiter: RateLimiter | None = None,
    backoff_base_s: float = 0.1,
    backoff_cap_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SendOutcome:
    """Put ``records`` with PutRecordBatch, resending exactly the failed entries."""
    rng = rng or _RNG
    outcome = SendOutcome()
    pending = list(range(len(records)))
    entries = [{"Data": r} for r in records]
    total_bytes = sum(map(len, records))
    last_error: dict[int, tuple[str, str]] = {}
    while pending:
        outcome.attempts += 1
        attempt = outcome.attempts
        call = entries if len(pending) == len(entries) else [entries[i] for i in pending]
        if limiter is not None:
            nbytes = total_bytes if call is entries else sum(len(records[i]) for i in pending)
            limiter.acquire(len(call), nbytes, 1)
        try:
            response = client.put_record_batch(DeliveryStreamName=stream, Records=call)
        except Exception as exc:
            code, message, retryable = classify_error(exc)
            if not retryable:
                raise FatalSendError(
                    f"Firehose PutRecordBatch to delivery stream {stream!r} failed with "
                    f"{code}: {message}" + _hint(code)
                ) from exc
            still_failing = pending
            for i in pending:
                last_error[i] = (code, message)
        else:
            still_failing = []
            if response.get("FailedPutCount", 0):
                answers = response.get("RequestResponses", [])
                if len(answers) != len(pending):
                    raise FatalSendError(
                        f"Firehose answered {len(answers)} entries for {len(pending)} records"
                    )
                for i, answer in zip(pending, answers, strict=True):
                    if answer.get("ErrorCode"):
                        still_failing.append(i)
                        last_error[i] = (answer["ErrorCode"], answer.get("ErrorMessage", ""))
        outcome.sent += len(pending) - len(still_failing)
        pending = still_failing
        if pending and attempt < max_attempts:
            outcome.retried += len(pending)
            sleep(rng.uniform(0, min(backoff_cap_s, backoff_base_s * 2 ** (attempt - 1))))
        elif pending:
            outcome.failures = [(i, *last_error[i], attempt) for i in pending]
            break
    return outcome


def _hint(code: str) -> str:
    if code == "ResourceNotFoundException":
        return " (does the delivery stream exist? on the embedded stack, start it first)"
    if code in ("UnrecognizedClientException", "AccessDenied", "AccessDeniedException"):
        return " (check AWS credentials and the firehose:PutRecordBatch permission)"
    return ""


def dead_letter_lines(
    failures: list[tuple[bytes, str, str, int]],
) -> bytes:
    """NDJSON dead-letter lines {"row_id", "reason", "error_code", "attempts", "data"}."""
    out = []
    for line, code, reason, attempts in failures:
        data = line[:-1] if line.endswith(b"\n") else line
        out.append(
            json.dumps(
                {
                    "row_id": row_id_of(data),
                    "reason": reason,
                    "error_code": code,
                    "attempts": attempts,
                    "data": data.decode("utf-8", errors="replace"),
                }
            )
        )
    return ("\n".join(out) + "\n").encode()


def dead_letter_key(replay_id: str, first_row: int, end_row: int) -> str:
    # Keyed by row range, so a resumed replay that fails the same rows rewrites the same object.
    return f"{REPLAY_FAILED_PREFIX}{replay_id}/rows-{first_row:010d}-{end_row:010d}.ndjson"


@dataclass
class WorkerConfig:
    settings: Settings
    replay_id: str
    max_attempts: int
    backoff_base_s: float
    backoff_cap_s: float
    limiter: RateLimiter
    client_factory: Callable[[Settings], Any] | None
    parent_pid: int


def firehose_client(settings: Settings) -> Any:
    """The replay's Firehose client: botocore retries off, the replay retries per record."""
    return aws.client("firehose", settings, max_attempts=1)


class _Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        factory = config.client_factory or firehose_client
        self.client = factory(config.settings)
        self._s3: Any = None

    def process(self, seq: int, first_row: int, end_row: int, payload: bytes, rejects: list):
        cfg = self.config
        records = tagged_records(payload, cfg.replay_id)
        outcome = send_batch(
            self.client,
            cfg.settings.delivery_stream,
            records,
            max_attempts=cfg.max_attempts,
            limiter=cfg.limiter,
            backoff_base_s=cfg.backoff_base_s,
            backoff_cap_s=cfg.backoff_cap_s,
        )
        dead = [(line, code, reason, 0) for line, code, reason in rejects]
        dead += [
            (records[i], code, f"not accepted after {n} attempts; last error {code}: {msg}", n)
            for i, code, msg, n in outcome.failures
        ]
        key = local = None
        if dead:
            key, local = self._write_dead_letter(first_row, end_row, dead_letter_lines(dead))
        size = sum(map(len, records))
        return ("done", seq, outcome.sent, outcome.retried, len(dead), size, key, local)

    def _write_dead_letter(self, first_row: int, end_row: int, body: bytes):
        cfg = self.config
        key = dead_letter_key(cfg.replay_id, first_row, end_row)
        try:
            if self._s3 is None:
                self._s3 = aws.client("s3", cfg.settings)
            self._s3.put_object(Bucket=cfg.settings.bucket, Key=key, Body=body)
            return key, None
        except Exception as exc:
            path = cfg.settings.dead_letter_dir / key
            logger.warning(
                "dead letter to s3://%s/%s failed (%s); writing %s",
                cfg.settings.bucket,
                key,
                exc,
                path,
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(body)
            os.replace(tmp, path)
            return None, str(path)


def _worker_main(config: WorkerConfig, tasks: Any, results: Any) -> None:
    try:
        worker = _Worker(config)
    except Exception as exc:
        results.put(("fatal", -1, f"cannot create the Firehose client: {exc!r}"))
        return
    results.put(("ready", os.getpid()))
    # Our own parent is the fork server, which exits when the replay's process does.
    started_by = os.getppid()
    while True:
        try:
            task = tasks.get(timeout=1.0)
        except queue.Empty:
            # The replay was killed (SIGKILL leaves it no chance to stop us): exit, don't linger.
            if os.getppid() != started_by or not pid_alive(config.parent_pid):
                return
            continue
        if task is None:
            return
        try:
            results.put(worker.process(*task))
        except Exception as exc:
            message = str(exc) if isinstance(exc, ReplayError) else f"{type(exc).__name__}: {exc}"
            results.put(("fatal", task[0], message))
            return


# --------------------------------------------------------------------------------------------
# The parent: worker pool, acknowledgements, checkpoints, progress


class _Pool:
    """N worker processes behind a bounded task queue."""

    def __init__(self, processes: int, config: WorkerConfig, ctx: Any) -> None:
        self.tasks = ctx.Queue(maxsize=2 * processes)
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_worker_main,
                args=(config, self.tasks, self.results),
                name=f"txviz-replay-{i}",
                daemon=True,
            )
            for i in range(processes)
        ]
        self.finishing = False
        for p in self.procs:
            p.start()

    def submit(self, batch: Batch, serve: Callable[[float], None]) -> None:
        """Queue a batch; while the queue is full, ``serve`` handles results and progress."""
        task = (batch.seq, batch.first_row, batch.end_row, batch.payload, batch.rejects)
        while True:
            try:
                self.tasks.put(task, timeout=0.05)
                return
            except queue.Full:
                serve(0.05)
                self.check_alive()

    def poll(self, timeout: float, on_result: Callable[[tuple], None]) -> None:
        """Hand every available result to ``on_result``, waiting up to ``timeout`` for one."""
        try:
            first = self.results.get(timeout=timeout) if timeout > 0 else self.results.get_nowait()
        except queue.Empty:
            return
        on_result(first)
        while True:
            try:
                on_result(self.results.get_nowait())
            except queue.Empty:
                return

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until every worker has its client, so a broken setup fails before sending."""
        ready = 0
        deadline = time.monotonic() + timeout
        while ready < len(self.procs):
            try:
                message = self.results.get(timeout=0.2)
            except queue.Empty:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise ReplayError(f"replay workers not ready after {timeout:.0f} s") from None
                continue
            if message[0] == "fatal":
                raise ReplayError(message[2])
            ready += 1

    def check_alive(self) -> None:
        """Raise if a worker died; after ``finish`` a clean exit is expected, not before."""
        for p in self.procs:
            if p.exitcode is not None and (p.exitcode != 0 or not self.finishing):
                raise ReplayError(f"replay worker {p.name} (pid {p.pid}) exited with {p.exitcode}")

    def all_exited(self) -> bool:
        return all(p.exitcode is not None for p in self.procs)

    def finish(self) -> None:
        self.finishing = True
        for _ in self.procs:
            self.tasks.put(None)

    def close(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=10)
        self.tasks.cancel_join_thread()
        self.results.cancel_join_thread()
        self.tasks.close()
        self.results.close()


class _Tracker:
    """Acknowledgements, the low watermark, counts, checkpoints and progress."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        store: CheckpointStore,
        options: ReplayOptions,
        rows_total: int,
        on_progress: Callable[[ReplayProgress], None] | None,
        clock: Callable[[], float],
    ) -> None:
        self.checkpoint = checkpoint
        self.store = store
        self.options = options
        self.rows_total = rows_total
        self.on_progress = on_progress
        self.clock = clock
        self.started = clock()
        self.inflight: dict[int, tuple[int, int]] = {}  # seq -> (first_row, end_row)
        self.done: set[int] = set()
        self.next_seq = 0
        self.rows = self.bytes = self.sent = self.retried = self.failed = self.batches = 0
        self.dead_letter_keys: set[str] = set()
        self.dead_letter_local: list[str] = []
        self.fatal: str | None = None
        self.startup_s = 0.0
        self._last_save = self._last_progress = self.started

    def dispatched(self, batch: Batch) -> None:
        self.inflight[batch.seq] = (batch.first_row, batch.end_row)

    def on_result(self, result: tuple) -> None:
        if result[0] == "fatal":
            self.fatal = self.fatal or result[2]
            return
        _, seq, sent, retried, failed, nbytes, key, local = result
        first_row, end_row = self.inflight[seq]
        self.done.add(seq)
        self.rows += end_row - first_row
        self.bytes += nbytes
        self.sent += sent
        self.retried += retried
        self.failed += failed
        self.batches += 1
        if key:
            self.dead_letter_keys.add(key)
        if local:
            self.dead_letter_local.append(local)
        cp = self.checkpoint
        cp.sent += sent
        cp.retried += retried
        cp.failed += failed
        cp.batches += 1
        while self.next_seq in self.done:
            self.done.discard(self.next_seq)
            cp.next_row = self.inflight.pop(self.next_seq)[1]
            self.next_seq += 1

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_save >= self.options.checkpoint_every_s:
            self.save()
        due = now - self._last_progress >= self.options.progress_every_s
        if self.on_progress and (force or due):
            self._last_progress = now
            self.on_progress(self.progress())

    def save(self) -> None:
        self.checkpoint.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.store.save(self.checkpoint)
        self._last_save = self.clock()

    def progress(self) -> ReplayProgress:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.rows / elapsed
        done = self.checkpoint.next_row + sum(
            e - f for s, (f, e) in self.inflight.items() if s in self.done
        )
        remaining = max(self.rows_total - done, 0)
        return ReplayProgress(
            rows_done=done,
            rows_total=self.rows_total,
            bytes_done=self.bytes,
            elapsed_s=elapsed,
            records_per_s=rate,
            mib_per_s=self.bytes / elapsed / 2**20,
            eta_s=remaining / rate if rate > 0 else None,
            retried=self.retried,
            failed=self.failed,
        )


def new_replay_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def replay(
    dataset_dir: Path,
    settings: Settings,
    options: ReplayOptions | None = None,
    on_progress: Callable[[ReplayProgress], None] | None = None,
) -> ReplayResult:
    """Send the dataset's rows to the settings' delivery stream; resumes a known replay_id."""
    options = options or ReplayOptions()
    clock = time.monotonic
    dataset = Dataset.open(dataset_dir)
    replay_id = options.replay_id or new_replay_id()
    s3 = aws.client("s3", settings)
    store = checkpoint_store(options.checkpoint_store, settings, s3)
    end_row = dataset.rows if options.rows is None else min(options.rows, dataset.rows)

    checkpoint = store.load(replay_id) if options.resume else None
    if checkpoint is not None and checkpoint.dataset_rows != dataset.rows:
        raise ReplayError(
            f"replay {replay_id!r} was started on a dataset of {checkpoint.dataset_rows} rows "
            f"({checkpoint.dataset}); {dataset.path} has {dataset.rows}. Use a new replay id "
            "or resume=False to start over."
        )
    if checkpoint is None:
        checkpoint = Checkpoint(replay_id, str(dataset.path), dataset.rows)
    start_row = checkpoint.next_row
    checkpoint.rows_limit = options.rows
    checkpoint.dataset = str(dataset.path)
    checkpoint.runs += 1
    checkpoint.complete = False
    logger.info(
        "replay %s: rows %d..%d of %s to %s (%s); checkpoint %s",
        replay_id,
        start_row,
        end_row,
        dataset.path,
        settings.delivery_stream,
        f"speed x{options.speed}" if options.speed else "as fast as possible",
        store.describe(replay_id),
    )

    tracker = _Tracker(checkpoint, store, options, end_row, on_progress, clock)
    planner = BatchPlanner(
        dataset,
        start_row,
        end_row,
        max_records=options.max_batch_records,
        speed=options.speed,
        max_lead_s=options.max_lead_s,
    )
    if start_row < end_row:
        _run(planner, settings, options, replay_id, tracker, clock)
    if checkpoint.first_row_id is None:
        checkpoint.first_row_id = planner.first_row_id
    if planner.last_row_id is not None:
        checkpoint.last_row_id = planner.last_row_id
    checkpoint.complete = checkpoint.next_row >= end_row
    tracker.tick(force=True)

    duration = max(clock() - tracker.started, 1e-9)
    dl_prefix = f"{REPLAY_FAILED_PREFIX}{replay_id}/" if checkpoint.failed else None
    manifest_key = f"{REPLAY_PREFIX}{replay_id}/manifest.json"
    s3.put_object(
        Bucket=settings.bucket,
        Key=manifest_key,
        Body=json.dumps(
            _manifest(dataset, options, checkpoint, start_row, end_row, dl_prefix), indent=2
        ).encode(),
        ContentType="application/json",
    )
    result = ReplayResult(
        replay_id=replay_id,
        rows=tracker.rows,
        bytes=tracker.bytes,
        batches=tracker.batches,
        retried=tracker.retried,
        failed=tracker.failed,
        duration_s=duration,
        records_per_s=tracker.rows / duration,
        mib_per_s=tracker.bytes / duration / 2**20,
        resumed_from_row=start_row,
        dead_letter_key=dl_prefix,
        sent=tracker.sent,
        manifest_key=manifest_key,
        dead_letter_local=tuple(tracker.dead_letter_local),
        checkpoint=store.describe(replay_id),
        startup_s=tracker.startup_s,
    )
    logger.info(
        "replay %s: %d rows (%d sent, %d retried, %d failed) in %.1f s, %.0f rec/s",
        replay_id,
        result.rows,
        result.sent,
        result.retried,
        result.failed,
        duration,
        result.records_per_s,
    )
    return result


def _run(
    planner: BatchPlanner,
    settings: Settings,
    options: ReplayOptions,
    replay_id: str,
    tracker: _Tracker,
    clock: Callable[[], float],
) -> None:
    # Not fork: it would copy the locks of the parent's threads (Dagster runs several). The fork
    # server imports this module once and forks workers from that clean process, which starts
    # N workers about N times faster than spawn on a small machine.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    config = WorkerConfig(
        settings=settings,
        replay_id=replay_id,
        max_attempts=options.max_attempts,
        backoff_base_s=options.backoff_base_s,
        backoff_cap_s=options.backoff_cap_s,
        limiter=RateLimiter.shared(options.limits(), ctx),
        client_factory=options.client_factory,
        parent_pid=os.getpid(),
    )
    pool = _Pool(options.processes or os.cpu_count() or 1, config, ctx)

    def serve(timeout: float) -> None:
        pool.poll(timeout, tracker.on_result)
        _raise_if_fatal(tracker)
        tracker.tick()

    schedule = Schedule(options.speed, clock=clock, sleep=serve)
    try:
        pool.wait_ready()
        tracker.startup_s = clock() - tracker.started
        for batch in planner:
            if schedule.speed is not None:
                schedule.wait(batch.event_time)
            tracker.dispatched(batch)
            pool.submit(batch, serve)
            serve(0.0)
        pool.finish()
        while tracker.inflight:
            exited = pool.all_exited()
            serve(0.2)
            pool.check_alive()
            if exited and tracker.inflight:
                raise ReplayError(
                    f"replay workers exited with {len(tracker.inflight)} batches unacknowledged"
                )
    finally:
        pool.close()
        # The watermark only ever covers acknowledged batches, so saving it is always safe.
        tracker.save()


def _raise_if_fatal(tracker: _Tracker) -> None:
    if tracker.fatal:
        raise ReplayError(tracker.fatal)


def _manifest(
    dataset: Dataset,
    options: ReplayOptions,
    cp: Checkpoint,
    start_row: int,
    end_row: int,
    dead_letter_prefix: str | None,
) -> dict[str, Any]:
    return {
        "replay_id": cp.replay_id,
        "dataset": str(dataset.path),
        "dataset_source": dataset.manifest.get("source"),
        "dataset_rows": dataset.rows,
        "first_event_time": dataset.manifest.get("first_event_time"),
        "last_event_time": dataset.manifest.get("last_event_time"),
        "rows_requested": options.rows,
        "rows": cp.next_row,  # dataset rows 0..rows-1 were sent or dead-lettered
        "first_row_id": cp.first_row_id,
        "last_row_id": cp.last_row_id,
        "complete": cp.complete,
        "sent": cp.sent,
        "retried": cp.retried,
        "failed": cp.failed,
        "batches": cp.batches,
        "runs": cp.runs,
        "last_run_from_row": start_row,
        "last_run_to_row": end_row,
        "speed": options.speed or None,
        "limits": asdict(options.limits()),
        "dead_letter_prefix": dead_letter_prefix,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
