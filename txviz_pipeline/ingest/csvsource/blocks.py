"""The data lines of a CSV file in blocks of whole lines, and a map over them in file order."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_CHUNK_BYTES = 2 << 20  # ~8k Sparkov rows per block: its temporaries stay near the cache
MAX_LINE_BYTES = 4 << 20  # a longer "line" is rejected and skipped, so memory stays bounded


@dataclass(frozen=True)
class Reject:
    """A data row that failed: its line in the file (header = line 1), why, and the field
    that failed. ``reason`` names the field and what was expected, never the value.

    ``fields`` holds the row's values by NDJSON name when it parsed into the Sparkov columns
    (None for a line that did not): for the redacted rejects file, never for a message.
    """

    line: int
    reason: str
    column: str  # the field that failed, or "(field count)", "(encoding)", ... for a line
    fields: dict[str, str] | None = None


def map_in_order(
    fn: Callable[[T], R], items: Iterable[T], workers: int | None = None
) -> Iterator[R]:
    """``map(fn, items)`` on a thread pool, results in input order, at most workers + 1 in
    flight so memory stays flat."""
    workers = workers or min(2, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="csvchunk") as pool:
        pending: deque[Future[R]] = deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            while len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class LineBlock:
    """Whole lines of the data section, or one line rejected before parsing (``too_long``).

    The ``lines`` lines are ``buffer[start:end]``, the last ending with a newline. Before
    ``start`` the buffer holds the ``prefix`` given to :func:`line_blocks`; after ``end`` come
    PAD_BYTES zero bytes, so reads of a few words from any field stay inside the buffer.
    """

    buffer: np.ndarray  # uint8
    start: int
    end: int
    lines: int
    first_line: int
    too_long: Reject | None = None

    @property
    def view(self) -> np.ndarray:
        return self.buffer[self.start : self.end]

    @property
    def data(self) -> bytes:
        return self.view.tobytes()


PAD_BYTES = 32
_NO_BYTES = np.zeros(PAD_BYTES, np.uint8)


def line_blocks(
    path: str | os.PathLike[str],
    *,
    rows: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    prefix: bytes = b"",
) -> Iterator[LineBlock]:
    """The data lines of a CSV, ~chunk_bytes at a time; ``rows`` stops after N lines.

    Each block is read straight into its own buffer, after ``prefix``: a caller can keep its
    own bytes in the same buffer as the lines.
    """
    remaining = rows if rows is not None else -1
    line = 2  # line 1 is the header
    head = len(prefix)
    with open(path, "rb") as f:
        f.readline(MAX_LINE_BYTES)
        size = os.fstat(f.fileno()).st_size
        carry = b""  # the start of a line that the previous read cut
        blocks = 0
        while remaining != 0:
            read = _block_size(chunk_bytes, blocks, size - f.tell())
            buffer = np.empty(head + len(carry) + read + 1 + PAD_BYTES, np.uint8)
            buffer[:head] = np.frombuffer(prefix, np.uint8)
            start, filled = head, head + len(carry)
            buffer[start:filled] = np.frombuffer(carry, np.uint8)
            end = filled + f.readinto(memoryview(buffer)[filled : filled + read])
            blocks += 1
            if end == filled:  # end of file: a last line without "\n"
                if end > start:
                    buffer[end] = 10
                    buffer[end + 1 : end + 1 + PAD_BYTES] = 0
                    yield LineBlock(buffer, start, end + 1, 1, line)
                return
            view = buffer[start:end]
            count = int(np.count_nonzero(view == 10))
            if count == 0:
                if end - start > MAX_LINE_BYTES:
                    reject = _skip_long_line(f, line)
                    yield LineBlock(_NO_BYTES, 0, 0, 1, line, reject)
                    line += 1
                    remaining -= 1
                    carry = b""
                else:
                    carry = view.tobytes()
                continue
            if 0 <= remaining < count:
                cut = start + int(np.flatnonzero(view == 10)[remaining - 1]) + 1
                count = remaining
            else:
                cut = start + _last_newline(view) + 1
            carry = buffer[cut:end].tobytes()
            buffer[cut : cut + PAD_BYTES] = 0
            yield LineBlock(buffer, start, cut, count, line)
            line += count
            if remaining > 0:
                remaining -= count


def _block_size(chunk_bytes: int, blocks: int, left: int) -> int:
    """Smaller blocks at the start and the end of a file: workers get going sooner, and
    finish together rather than one waiting on a whole last block."""
    if blocks < 2:
        return max(chunk_bytes >> (2 - blocks), 1)
    if left < 2 * chunk_bytes:
        return max(chunk_bytes // 4, 1)
    return chunk_bytes


def _last_newline(view: np.ndarray) -> int:
    """Where the last newline of a block that holds one is."""
    tail = 1 << 16
    while True:
        found = np.flatnonzero(view[-tail:] == 10)
        if len(found):
            return len(view) - min(tail, len(view)) + int(found[-1])
        tail *= 4


def _skip_long_line(f: BinaryIO, line: int) -> Reject:
    """Reject a line longer than MAX_LINE_BYTES without holding it in memory."""
    while True:
        block = f.readline(MAX_LINE_BYTES)
        if not block or block.endswith(b"\n"):
            break
    return Reject(line, f"too_large: line is over {MAX_LINE_BYTES:,} bytes", "(line length)")
