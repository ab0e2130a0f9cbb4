"""Reading a Sparkov CSV safely: header check, then every row checked in vectorised chunks.

The header is checked before any row is read, so a wrong file (the ULB creditcard.csv, a
reordered export) fails at once with the missing and unexpected columns named. Rows are then
read in blocks of whole lines, each straight into its own buffer, and checked on a small
thread pool (numpy and pyarrow release the GIL) and handed back in file order.

Each block is first scanned in place (:func:`scan_block`): numpy finds every field's bytes and
checks every value with lane arithmetic on 8-byte words, without a string per value. When all
its rows pass (nearly every block of a real file) that is the whole check. Otherwise the block
goes to :func:`check_lines`: pyarrow parses it as strings, compute kernels check and type each
column, and rows that fail (wrong field count, unparseable number or timestamp, unknown
category, broken UTF-8, ...) come out as :class:`Reject` records with their line number and a
reason instead of stopping the read. The scan accepts only rows that this path accepts with
the same values, which the tests check value by value.

``iter_checked_chunks`` is the engine shared by ``validate_csv`` (``txviz validate``) and the
NDJSON conversion in :mod:`txviz_pipeline.ingest.convert`.
"""

from __future__ import annotations

import csv
import ctypes
import logging
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pv

from txviz_pipeline.schema import (
    CATEGORIES,
    NDJSON_FIELDS,
    SOURCE_COLUMNS,
    SOURCE_DOB_FORMAT,
    SOURCE_TIMESTAMP_FORMAT,
    SOURCE_TYPES,
    SchemaError,
    check_header,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

FIELD_COUNT = len(SOURCE_COLUMNS)
DEFAULT_CHUNK_BYTES = 2 << 20  # ~8k Sparkov rows per block: its temporaries stay near the cache
MAX_LINE_BYTES = 4 << 20  # a longer "line" is rejected and skipped, so memory stays bounded
MAX_RAW_CHARS = 10_000  # how much of a rejected line a Reject keeps
MAX_EXAMPLES = 1_000  # malformed rows a ValidationReport keeps (all are counted)


class SourceFileError(ValueError):
    """A source file that cannot be read as CSV at all: missing, empty or not UTF-8."""


class HeaderOrderError(SchemaError):
    """All Sparkov columns are present, but in another order or repeated."""

    def __init__(self, path: str, header: list[str]):
        self.path = path
        self.missing = []
        self.unexpected = []
        names = [_normalise(h) for h in header]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            detail = f"repeated columns: {', '.join(map(repr, repeated))}"
        else:
            pos = next(
                i for i, (a, b) in enumerate(zip(names, SOURCE_COLUMNS, strict=True)) if a != b
            )
            detail = (
                f"column {pos + 1} is {names[pos]!r} but should be {SOURCE_COLUMNS[pos]!r}; "
                f"expected order: {', '.join(map(repr, SOURCE_COLUMNS))}"
            )
        ValueError.__init__(self, f"{path} has the Sparkov columns in the wrong order; {detail}")


def _normalise(name: str) -> str:
    name = name.strip()
    return "" if name == "Unnamed: 0" else name


def read_header(path: str | os.PathLike[str]) -> list[str]:
    """The column names on the first line of a CSV file."""
    p = Path(path)
    if not p.is_file():
        raise SourceFileError(f"{p}: no such file")
    with open(p, "rb") as f:
        first = f.readline(MAX_LINE_BYTES)
    if not first.strip():
        raise SourceFileError(f"{p} is empty: expected a CSV header line")
    try:
        text = first.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise SourceFileError(
            f"{p} is not UTF-8 text (byte {e.start} of the header line); "
            "is it compressed or in another encoding?"
        ) from e
    return next(csv.reader([text]))


def require_sparkov_header(path: str | os.PathLike[str]) -> list[str]:
    """Return the header, or raise SchemaError if it is not the Sparkov fraudTrain.csv one."""
    header = read_header(path)
    check = check_header(header)
    if not check.ok:
        raise SchemaError(str(path), check.missing, check.unexpected)
    if check.misordered:
        raise HeaderOrderError(str(path), header)
    return header


@dataclass(frozen=True)
class Reject:
    """A data row that failed: its line in the file (header = line 1), why, and its text."""

    line: int
    reason: str
    raw: str
    column: str  # the column that failed, or "(field count)", "(encoding)", ... for a line


@dataclass(frozen=True)
class CheckedChunk:
    """Consecutive lines of the file: the rows that passed and a Reject for each that did not.

    The good rows come twice, aligned: ``text`` holds every value exactly as written in the CSV
    (all strings), ``rows`` the same values typed as schema.SOURCE_TYPES. Checked text is
    canonical for integers (digits only, no sign or leading zeros) and is a finite number for
    the float columns.
    """

    text: pa.RecordBatch  # columns NDJSON_FIELDS, all strings
    rows: pa.RecordBatch  # columns NDJSON_FIELDS, typed
    lines: np.ndarray  # the line number of each good row
    rejects: list[Reject]  # sorted by line

    @property
    def records(self) -> int:
        return self.rows.num_rows + len(self.rejects)


# How each column is checked and typed, in NDJSON order.
_KINDS: dict[str, str] = {
    "row_id": "int",
    "trans_date_trans_time": "timestamp",
    "cc_num": "card",
    "merchant": "text",
    "category": "category",
    "amt": "number",
    "first": "any",
    "last": "any",
    "gender": "any",
    "street": "any",
    "city": "any",
    "state": "any",
    "zip": "any",
    "lat": "lat",
    "long": "long",
    "city_pop": "int",
    "job": "any",
    "dob": "date",
    "trans_num": "text",
    "unix_time": "int",
    "merch_lat": "lat",
    "merch_long": "long",
    "is_fraud": "flag",
}
_PROBLEM: dict[str, str] = {
    "int": "not a whole number",
    "card": "not a card number of 8 to 19 digits",
    "number": "not a number",
    "lat": "not a latitude between -90 and 90",
    "long": "not a longitude between -180 and 180",
    "timestamp": "not a 'YYYY-MM-DD HH:MM:SS' timestamp",
    "date": "not a 'YYYY-MM-DD' date",
    "category": f"not one of the {len(CATEGORIES)} Sparkov categories",
    "flag": "not 0 or 1",
    "text": "empty",
}
_ARROW_TYPES = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}
# The checked rows: NDJSON names with the source types (cc_num and zip stay strings).
ROW_SCHEMA = pa.schema(
    [
        (name, _ARROW_TYPES[SOURCE_TYPES[column]])
        for name, column in zip(NDJSON_FIELDS, SOURCE_COLUMNS, strict=True)
    ]
)
TEXT_SCHEMA = pa.schema([(name, pa.string()) for name in NDJSON_FIELDS])
_EMPTY_ROWS = pa.RecordBatch.from_pylist([], schema=ROW_SCHEMA)
_EMPTY_TEXT = pa.RecordBatch.from_pylist([], schema=TEXT_SCHEMA)
_POW10 = np.array([10**k for k in range(20)], dtype=np.uint64)
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
_CATEGORY_SET = pa.array(CATEGORIES, pa.string())
_FLAG_SET = pa.array(["0", "1"], pa.string())


def iter_checked_chunks(
    path: str | os.PathLike[str],
    *,
    rows: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    workers: int | None = None,
) -> Iterator[CheckedChunk]:
    """Check a Sparkov CSV chunk by chunk, in file order; ``rows`` stops after N data lines."""
    require_sparkov_header(path)
    keep_freed_memory()
    blocks = line_blocks(path, rows=rows, chunk_bytes=chunk_bytes)
    return map_in_order(check_block, blocks, workers)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_allocator_tuned: list[bool] = []


def keep_freed_memory() -> None:
    """Have glibc keep freed memory for reuse rather than hand it back to the kernel.

    Checking a block allocates and frees tens of MB of numpy temporaries. With glibc's
    default thresholds these were unmapped or trimmed after each block and came back as
    fresh pages: ~200,000 page faults and over a second of kernel time per 1.3M rows, about
    a third of the whole conversion. Freed memory now stays in the allocator (up to 256 MB)
    for the next block. Process-wide and done once; a no-op where libc is not glibc.
    """
    if _allocator_tuned:
        return
    _allocator_tuned.append(True)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 32 << 20)
    mallopt(_M_TRIM_THRESHOLD, 256 << 20)


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
                    reject = _skip_long_line(f, view[:200].tobytes(), line)
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


def _skip_long_line(f: BinaryIO, head: bytes, line: int) -> Reject:
    """Reject a line longer than MAX_LINE_BYTES without holding it in memory."""
    while True:
        block = f.readline(MAX_LINE_BYTES)
        if not block or block.endswith(b"\n"):
            break
    text = head.decode("utf-8", "replace")
    return Reject(line, f"line longer than {MAX_LINE_BYTES} bytes", text, "(line length)")


# The scan. Most blocks of a real file hold nothing but well-formed rows: for those, numpy
# finds every field's bytes in the block buffer and checks the values in place, eight bytes
# at a time (SWAR: one uint64 per 8 bytes of a field, bit tricks per byte lane), without a
# string per value. A block with anything unusual in it (a reject, an escaped quote, a
# backslash, a number JSON would not take as written, ...) is left to check_lines, which
# decides about each of its rows, so both ways give the same answer.


@dataclass(frozen=True)
class FieldSpans:
    """Every field of every line of a block whose rows all passed their checks.

    ``fields`` holds, for field j of the block (row j // 23, column j % 23), where it starts
    and ends in ``block.buffer`` at 2j and 2j + 1 (a quoted field without its quotes), then
    the end of the block: the CSV's exact text, which needs no JSON escaping. As Arrow
    offsets it makes field j element 2j of a binary array over the buffer. ``bounds`` is
    ``fields`` after ``head`` free slots, where a caller may put offsets of its own.
    """

    block: LineBlock
    bounds: np.ndarray  # int64: head slots, then 2 * rows * FIELD_COUNT + 1
    head: int
    first_event_time: str
    last_event_time: str

    @property
    def fields(self) -> np.ndarray:
        return self.bounds[self.head :]

    @property
    def rows(self) -> int:
        return (len(self.fields) - 1) // (2 * FIELD_COUNT)

    @property
    def starts(self) -> np.ndarray:
        return self.fields[0:-1:2].reshape(self.rows, FIELD_COUNT)

    @property
    def ends(self) -> np.ndarray:
        return self.fields[1::2].reshape(self.rows, FIELD_COUNT)

    def text(self, row: int, column: int) -> str:
        """One field's text."""
        j = 2 * (row * FIELD_COUNT + column)
        return self.block.buffer[self.fields[j] : self.fields[j + 1]].tobytes().decode("utf-8")

    def line_numbers(self) -> np.ndarray:
        """The line number of each row."""
        return self.block.first_line + np.arange(self.rows)


_COMMA, _QUOTE, _NEWLINE, _RETURN, _BACKSLASH = (ord(c) for c in ',"\n\r\\')
_HIGH = np.uint64(0x8080808080808080)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_BYTES = np.uint64(0x0101010101010101)
_ABOVE_9 = np.uint64(0x7676767676767676)  # 0x80 - 10
_ZEROS = np.uint64(0x3030303030303030)
# _KEEP[k]: the low k byte lanes of a word (the first k bytes of the field it was read at)
_KEEP = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)


def scan_block(block: LineBlock, head: int = 0) -> FieldSpans | None:
    """The fields of a block in which every line is a valid Sparkov row, else None (with
    ``head`` free slots before them in FieldSpans.bounds)."""
    n = block.lines
    if block.too_long is not None or n == 0:
        return None
    view = block.view
    # Field ends: commas and newlines, less the commas (and newlines) inside quotes.
    seps = np.flatnonzero((view == _COMMA) | (view == _NEWLINE))
    quotes = np.flatnonzero(view == _QUOTE)
    if len(quotes) % 2:
        return None
    opens, closes = quotes[0::2], quotes[1::2]
    # The field an opening quote would start is the number of field ends before it.
    field = np.searchsorted(seps, opens)
    if len(quotes):
        inside = np.searchsorted(seps, closes) - field
        if inside.any():
            seps = np.delete(seps, _ranges(field, field + inside))
            field -= np.cumsum(inside) - inside
    if len(seps) != FIELD_COUNT * n:
        return None
    # The block holds exactly n newlines: if every 23rd field end is one, each line has 23
    # fields.
    newlines = seps[FIELD_COUNT - 1 :: FIELD_COUNT]
    if not (view[newlines] == _NEWLINE).all():
        return None
    crlf = view[newlines - 1] == _RETURN
    # Only the line ends may be control characters, and nothing may need JSON escaping.
    if np.count_nonzero(view < 32) != n + np.count_nonzero(crlf):
        return None
    if view.max() > 126 and not _is_utf8(view):
        return None
    if np.count_nonzero(view == _BACKSLASH):
        return None
    # Field j ends at seps[j], and field j + 1 starts right after it.
    bounds = np.empty(head + 2 * len(seps) + 1, np.int64)
    fields = bounds[head:]
    fields[0] = 0
    fields[1::2] = seps
    np.add(seps, 1, out=fields[2::2])
    fields[2 * FIELD_COUNT - 1 :: 2 * FIELD_COUNT] -= crlf  # the last field ends before "\r"
    if len(quotes):
        # Each pair of quotes must enclose exactly one field: any other quote is unusual.
        if field[-1] >= len(seps):
            return None
        if not ((fields[2 * field] == opens).all() and (fields[2 * field + 1] == closes + 1).all()):
            return None
        fields[2 * field] += 1
        fields[2 * field + 1] -= 1
    fields += block.start
    starts, ends = fields[0:-1:2].reshape(n, FIELD_COUNT), fields[1::2].reshape(n, FIELD_COUNT)
    times = _fast_values_ok(block.buffer, starts, ends)
    if times is None:
        return None
    first, last = (
        _text_at(block, starts, int(np.argmin(times))),
        _text_at(block, starts, int(np.argmax(times))),
    )
    return FieldSpans(block, bounds, head, first, last)


def _text_at(block: LineBlock, starts: np.ndarray, row: int) -> str:
    at = starts[row, _TIME_COLUMN]
    return block.buffer[at : at + 19].tobytes().decode("ascii")


def _is_utf8(view: np.ndarray) -> bool:
    try:
        str(memoryview(view), "utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ranges(lows: np.ndarray, highs: np.ndarray) -> np.ndarray:
    """The concatenation of range(low, high) for each pair."""
    counts = highs - lows
    return np.repeat(lows - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())


def _nondigits(word: np.ndarray) -> np.ndarray:
    """A lane's high bit is set where its byte is not an ASCII digit: digits xor "0" are
    0..9, and adding 0x76 carries every other lane value into the lane's high bit."""
    x = word ^ _ZEROS
    return (((x & _LOW7) + _ABOVE_9) | x) & _HIGH


def _equal_lanes(word: np.ndarray, char: int) -> np.ndarray:
    """A lane's high bit is set where its byte equals ``char``."""
    x = word ^ (_BYTES * np.uint64(char))
    return ~(((x & _LOW7) + _LOW7) | x) & _HIGH


def _pattern(pattern: str) -> tuple[np.uint64, np.uint64, np.uint64]:
    """For a pattern such as "dddd-dd-" (d: any digit): the high bits of its digit lanes,
    and the mask and value of its other lanes."""
    digits = fixed = value = 0
    for i, c in enumerate(pattern):
        if c == "d":
            digits |= 0x80 << (8 * i)
        else:
            fixed |= 0xFF << (8 * i)
            value |= ord(c) << (8 * i)
    return np.uint64(digits), np.uint64(fixed), np.uint64(value)


def _matches(word: np.ndarray, pattern: str) -> np.ndarray:
    digits, fixed, value = _pattern(pattern)
    return ((_nondigits(word) & digits) == 0) & ((word & fixed) == value)


def _two_digits(word: np.ndarray, lane: int) -> np.ndarray:
    """The number written by the two digits at lanes lane and lane + 1."""
    pair = word >> np.uint64(8 * lane)
    tens, ones = pair & np.uint64(15), (pair >> np.uint64(8)) & np.uint64(15)
    return (tens * np.uint64(10) + ones).astype(np.int64)


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def _real_date(word: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether "YYYY-MM-" (word) and ``day`` make a real date, and YYYYMMDD."""
    year = _two_digits(word, 0) * 100 + _two_digits(word, 2)
    month = _two_digits(word, 5)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _DAYS_IN_MONTH[np.minimum(month, 12)] + ((month == 2) & leap)
    # Years before 1000 are left to the slow path, which knows what strptime accepts.
    ok = (year >= 1000) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= last)
    return ok, (year * 100 + month) * 100 + day


def _category_table() -> tuple[np.uint64, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A perfect hash of the categories' first 16 bytes and length: a multiplier and, per
    slot, the words and length of the category that hashes there (length 0: no category)."""
    keys = []
    for name in CATEGORIES:
        raw = name.encode().ljust(16, b"\0")
        keys.append((int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")))
    first = np.zeros(64, np.uint64)
    second = np.zeros(64, np.uint64)
    lengths = np.zeros(64, np.int64)
    for multiplier in range(0x9E3779B97F4A7C15, 1 << 64, 2):
        slots = {
            ((a ^ b * 31 ^ len(name)) * multiplier % (1 << 64)) >> 58
            for (a, b), name in zip(keys, CATEGORIES, strict=True)
        }
        if len(slots) == len(CATEGORIES):
            break
    for (a, b), name in zip(keys, CATEGORIES, strict=True):
        slot = ((a ^ b * 31 ^ len(name)) * multiplier % (1 << 64)) >> 58
        first[slot], second[slot], lengths[slot] = a, b, len(name)
    return np.uint64(multiplier), first, second, lengths


_CATEGORY_HASH = _category_table()


def _columns(*kinds: str) -> list[int]:
    return [i for i, name in enumerate(NDJSON_FIELDS) if _KINDS[name] in kinds]


# The checked columns, in the order _fast_values_ok reads them.
_TIME_COLUMN = NDJSON_FIELDS.index("trans_date_trans_time")
_CHECKED = [
    _TIME_COLUMN,
    *_columns("date"),
    *_columns("category"),
    *_columns("flag"),
    *_columns("card"),
    *_columns("int"),
    *_columns("number"),
    *_columns("lat"),
    *_columns("long"),
]
_TEXT_COLUMNS = _columns("text")
_INTEGERS = slice(4, 8)  # the card, then row_id, city_pop and unix_time
_DECIMALS = slice(8, 13)  # amt, then the two latitudes and the two longitudes
assert [_KINDS[NDJSON_FIELDS[i]] for i in _CHECKED[8:]] == ["number", *["lat"] * 2, *["long"] * 2]


def _fast_values_ok(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """Each row's event time (YYYYMMDDhhmmss) if every value of every row passes, else None.

    Each checked field is read as three words (its first 24 bytes; one gather of 24-byte
    records costs no more than one of 8) and judged with lane arithmetic on whole columns. A
    field longer than its words is left to the slow path (a card may fill three words, other
    numbers two).
    """
    records = np.ndarray((len(buffer) - 23,), dtype="V24", buffer=buffer, strides=(1,))
    at = starts[:, _CHECKED]  # row by row, so the reads go through the buffer once
    words = records[at.reshape(-1)].view("<u8").reshape(len(starts), len(_CHECKED), 3)
    w0, w1, w2 = np.ascontiguousarray(words.transpose(2, 1, 0))  # each checked x rows
    length = (ends[:, _CHECKED] - at).T

    # Times and dates: fixed patterns, then real calendar values.
    ts0, ts1, ts2 = w0[0], w1[0], w2[0] & _KEEP[3]
    ok = (length[0] == 19) & (length[1] == 10) & (length[3] == 1)
    ok &= _matches(ts0, "dddd-dd-") & _matches(ts1, "dd dd:dd") & _matches(ts2, ":dd")
    day_ok, day = _real_date(ts0, _two_digits(ts1, 0))
    hour, minute, second = _two_digits(ts1, 3), _two_digits(ts1, 6), _two_digits(ts2, 1)
    ok &= day_ok & (hour <= 23) & (minute <= 59) & (second <= 59)
    dob0, dob1 = w0[1], w1[1] & _KEEP[2]
    ok &= _matches(dob0, "dddd-dd-") & _matches(dob1, "dd")
    ok &= _real_date(dob0, _two_digits(dob1, 0))[0]

    # The category, by a perfect hash and one comparison.
    multiplier, first, second_word, names = _CATEGORY_HASH
    n = length[2]
    c0, c1 = w0[2] & _KEEP[np.minimum(n, 8)], w1[2] & _KEEP[np.clip(n - 8, 0, 8)]
    slot = ((c0 ^ c1 * np.uint64(31) ^ n.astype(np.uint64)) * multiplier) >> np.uint64(58)
    ok &= (first[slot] == c0) & (second_word[slot] == c1) & (names[slot] == n) & (n > 0)
    ok &= (w0[3] & np.uint64(0xFE)) == ord("0")  # is_fraud: 0 or 1

    # Integers: digits only, within their words; no leading zero but in the card number.
    n = length[_INTEGERS]
    bad = _nondigits(w0[_INTEGERS]) & _KEEP[np.minimum(n, 8)]
    bad |= _nondigits(w1[_INTEGERS]) & _KEEP[np.clip(n - 8, 0, 8)]
    bad[0] |= _nondigits(w2[4]) & _KEEP[np.clip(n[0] - 16, 0, 8)]
    zero = (w0[5:8] & np.uint64(0xFF)) == ord("0")
    ok &= (bad == 0).all(axis=0) & (n[0] >= 8) & (n[0] <= 19)
    ok &= ((n[1:] >= 1) & (n[1:] <= 16) & (~zero | (n[1:] == 1))).all(axis=0)

    # Decimals in JSON's own form, -?(0|[1-9][0-9]*)[.][0-9]+ with the point within the
    # first 8 bytes, and latitudes/longitudes below 90/180 in absolute value.
    n = length[_DECIMALS]
    d0 = w0[_DECIMALS]
    keep0 = _KEEP[np.minimum(n, 8)]
    minus = (d0 & np.uint64(0xFF)) == ord("-")
    points = _equal_lanes(d0, ord(".")) & keep0
    sign = minus.astype(np.uint64) << np.uint64(7)
    shape = ((_nondigits(d0) & keep0) == (points | sign)) & (np.bitwise_count(points) == 1)
    shape &= (_nondigits(w1[_DECIMALS]) & _KEEP[np.clip(n - 8, 0, 8)]) == 0
    point = np.bitwise_count(points - np.uint64(1)).astype(np.int64) >> 3  # its lane
    whole = point - minus  # digits before the point
    lead = (d0 >> (sign >> np.uint64(4))) & np.uint64(0xFFFF)  # the first two digits
    shape &= (whole >= 1) & (point <= n - 2) & (n <= 16)
    shape &= ((lead & np.uint64(0xFF)) != ord("0")) | (whole == 1)
    ok &= shape.all(axis=0)
    lat, lon, lead = whole[1:3], whole[3:5], lead[1:]
    ok &= ((lat == 1) | ((lat == 2) & ((lead[:2] & np.uint64(0xFF)) <= ord("8")))).all(axis=0)
    hundreds = (lead[2:] & np.uint64(0xFF)) == ord("1")
    below_80 = (lead[2:] >> np.uint64(8)) <= ord("7")
    ok &= ((lon <= 2) | ((lon == 3) & hundreds & below_80)).all(axis=0)

    ok &= (ends[:, _TEXT_COLUMNS] > starts[:, _TEXT_COLUMNS]).all(axis=1)
    if not ok.all():
        return None
    return ((day * 100 + hour) * 100 + minute) * 100 + second


def check_block(block: LineBlock) -> CheckedChunk:
    """Parse and check a block of lines: typed good rows and a Reject for every other line."""
    spans = scan_block(block)
    if spans is None:
        return check_lines(block)
    text = spans_text(spans)
    typed = [
        pc.cast(text.column(i), kind) if kind != pa.string() else text.column(i)
        for i, kind in enumerate(ROW_SCHEMA.types)
    ]
    rows = pa.RecordBatch.from_arrays(typed, schema=ROW_SCHEMA)
    return CheckedChunk(text=text, rows=rows, lines=spans.line_numbers(), rejects=[])


def spans_text(spans: FieldSpans) -> pa.RecordBatch:
    """The fields as string columns (NDJSON names), copied out of the block."""
    n = spans.rows
    fields = np.ascontiguousarray(spans.fields)
    # The scan found the block to be UTF-8 already, so the pieces can be typed as text.
    pieces = pa.Array.from_buffers(
        pa.large_string(),
        len(fields) - 1,
        [None, pa.py_buffer(fields), pa.py_buffer(spans.block.buffer)],
    )
    by_column = 2 * np.arange(n * FIELD_COUNT).reshape(n, FIELD_COUNT).T.reshape(-1)
    text = pc.take(pieces, by_column, boundscheck=False)
    columns = [text.slice(k * n, n).cast(pa.string()) for k in range(FIELD_COUNT)]
    return pa.RecordBatch.from_arrays(columns, schema=TEXT_SCHEMA)


def check_lines(block: LineBlock) -> CheckedChunk:
    """Parse and check a block line by line: typed good rows and a Reject for every other line."""
    if block.too_long is not None:
        return _chunk(_EMPTY_TEXT, np.empty(0, np.int64), [block.too_long], _EMPTY_ROWS)
    data, first_line = block.data, block.first_line
    buf = np.frombuffer(data, np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines[:-1] + 1))
    crlf = (newlines > starts) & (buf[np.maximum(newlines - 1, 0)] == 13)
    ends = newlines - crlf
    line_no = first_line + np.arange(len(ends))

    def raw(i: int) -> str:
        return data[starts[i] : ends[i]][:MAX_RAW_CHARS].decode("utf-8", "replace")

    rejects: list[Reject] = []
    bad = ends == starts
    rejects += [
        Reject(int(line_no[i]), "empty line", "", "(empty line)") for i in np.flatnonzero(bad)
    ]
    parsed_lines = _parse(_without(data, bad, starts, newlines), int((~bad).sum()))
    if parsed_lines is None:
        # pyarrow refused the block: drop lines that are not UTF-8, then parse again, and if
        # that still fails, line by line with the csv module.
        for i in np.flatnonzero(~bad):
            try:
                data[starts[i] : ends[i]].decode("utf-8")
            except UnicodeDecodeError:
                bad[i] = True
                rejects.append(Reject(int(line_no[i]), "not UTF-8 text", raw(i), "(encoding)"))
        kept_data = _without(data, bad, starts, newlines)
        parsed_lines = _parse(kept_data, int((~bad).sum())) or _parse_slowly(kept_data)
    kept = np.flatnonzero(~bad)
    columns, unparsed = parsed_lines
    for i, reason, column in unparsed:
        rejects.append(Reject(int(line_no[kept[i]]), reason, raw(kept[i]), column))
    parsed = np.delete(kept, [i for i, _, _ in unparsed])

    typed, ok, failed = _check_columns(columns)
    for i in np.flatnonzero(~ok):
        name, value = failed(int(i))
        column = SOURCE_COLUMNS[NDJSON_FIELDS.index(name)] or "index"
        reason = f"{column}: {_PROBLEM[_KINDS[name]]}: {_shorten(value)!r}"
        rejects.append(Reject(int(line_no[parsed[i]]), reason, raw(parsed[i]), column))
    text = pa.RecordBatch.from_arrays(columns, schema=TEXT_SCHEMA)
    rows = pa.RecordBatch.from_arrays(typed, schema=ROW_SCHEMA)
    if not ok.all():
        mask = pa.array(ok)
        text, rows = text.filter(mask), rows.filter(mask)
    return _chunk(text, line_no[parsed[ok]], rejects, rows)


def _without(data: bytes, bad: np.ndarray, starts: np.ndarray, newlines: np.ndarray) -> bytes:
    """The block without its bad lines."""
    if not bad.any():
        return data
    keep = np.repeat(~bad, newlines - starts + 1)
    return np.frombuffer(data, np.uint8)[keep].tobytes()


def _chunk(
    text: pa.RecordBatch, lines: np.ndarray, rejects: list[Reject], rows: pa.RecordBatch
) -> CheckedChunk:
    ordered = sorted(rejects, key=lambda r: r.line)
    return CheckedChunk(text=text, rows=rows, lines=lines, rejects=ordered)


def _shorten(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


_COLUMN_NAMES = [f"c{i}" for i in range(FIELD_COUNT)]


# A line that is no row: (its index in the block, reason, Reject.column)
Unparsed = tuple[int, str, str]


def _parse(data: bytes, lines: int) -> tuple[list[pa.Array], list[Unparsed]] | None:
    """Split lines into string columns, plus an Unparsed for each line with the wrong number
    of fields. None if pyarrow fails or its records do not map 1:1 onto lines
    (invalid UTF-8; a stray quote can make its parser join two lines)."""
    if lines == 0:
        return [pa.array([], pa.string())] * FIELD_COUNT, []
    unparsed: list[Unparsed] = []

    def wrong_count(row: pv.InvalidRow) -> str:
        index = row.number - 1 if row.number is not None else -1
        unparsed.append(_wrong_count(index, row.actual_columns))
        return "skip"

    try:
        table = pv.read_csv(
            pa.py_buffer(data),
            read_options=pv.ReadOptions(
                column_names=_COLUMN_NAMES, use_threads=False, block_size=len(data) + 1
            ),
            parse_options=pv.ParseOptions(
                invalid_row_handler=wrong_count, ignore_empty_lines=False
            ),
            convert_options=pv.ConvertOptions(
                column_types=dict.fromkeys(_COLUMN_NAMES, pa.string())
            ),
        )
    except pa.ArrowInvalid as e:
        log.debug("pyarrow could not parse a block: %s", e)
        return None
    if table.num_rows + len(unparsed) != lines or any(i < 0 for i, _, _ in unparsed):
        return None
    table = table.combine_chunks()
    return [table.column(i).chunk(0) for i in range(FIELD_COUNT)], unparsed


def _parse_slowly(data: bytes) -> tuple[list[pa.Array], list[Unparsed]]:
    """One line at a time with the csv module: each line is one record whatever its quotes."""
    rows: list[list[str]] = []
    unparsed: list[Unparsed] = []
    for i, line in enumerate(data.decode("utf-8").split("\n")[:-1]):
        try:
            fields = next(csv.reader([line.removesuffix("\r")]), [])
        except csv.Error as e:
            # Only a carriage return outside quotes gets here (lines hold no "\n").
            reason = "carriage return inside the line" if "\r" in line else f"not CSV: {e}"
            unparsed.append((i, reason, "(line break)"))
            continue
        if len(fields) == FIELD_COUNT:
            rows.append(fields)
        else:
            unparsed.append(_wrong_count(i, len(fields)))
    columns = list(zip(*rows, strict=True)) if rows else [()] * FIELD_COUNT
    return [pa.array(c, pa.string()) for c in columns], unparsed


def _wrong_count(index: int, fields: int) -> Unparsed:
    return index, f"expected {FIELD_COUNT} fields, found {fields}", "(field count)"


def _to_numpy(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _check_columns(
    columns: list[pa.Array],
) -> tuple[list[pa.Array], np.ndarray, Callable[[int], tuple[str, str]]]:
    """Typed columns, a per-row ok mask, and a function naming a bad row's first bad value."""
    n = len(columns[0])
    ok = np.ones(n, dtype=bool)
    typed: list[pa.Array] = []
    column_ok: list[np.ndarray | None] = []
    for name, col in zip(NDJSON_FIELDS, columns, strict=True):
        kind = _KINDS[name]
        values, good = _CHECKS[kind](col)
        typed.append(values)
        column_ok.append(good)
        if good is not None:
            ok &= good

    def failed(i: int) -> tuple[str, str]:
        for name, col, good in zip(NDJSON_FIELDS, columns, column_ok, strict=True):
            if good is not None and not good[i]:
                return name, col[i].as_py()
        raise AssertionError("row has no failing column")

    return typed, ok, failed


# Each check returns (typed values, ok mask or None when every value is fine). The fast path
# is a whole-column cast; only a column that fails it is checked value by value.


def _string_offsets(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    data = col.buffers()[2]
    return offsets, np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)


def _digits_match(col: pa.Array, values: pa.Array) -> bool:
    """Whether each value has exactly as many digits as its text has characters (rules out
    hex "0x1F", signs and leading zeros that a plain cast would accept)."""
    v = values.to_numpy(zero_copy_only=False).astype(np.uint64)
    digits = np.maximum(1, np.searchsorted(_POW10, v, side="right"))
    return bool(np.array_equal(digits, pc.binary_length(col).to_numpy(zero_copy_only=False)))


def _by_value(col: pa.Array, test: Callable[[str], bool]) -> np.ndarray:
    return np.fromiter((test(s) for s in col.to_pylist()), dtype=bool, count=len(col))


def _masked_cast(col: pa.Array, good: np.ndarray, fill: str, to: pa.DataType) -> pa.Array:
    return pc.cast(pc.if_else(pa.array(good), col, fill), to)


def _is_digits(s: str, lo: int, hi: int) -> bool:
    return lo <= len(s) <= hi and s.isascii() and s.isdigit()


def _check_int(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    try:
        values = pc.cast(col, pa.int64())
        lowest = pc.min(values).as_py()
        if lowest is None or (lowest >= 0 and _digits_match(col, values)):
            return values, None
    except pa.ArrowInvalid:
        pass
    good = _by_value(col, lambda s: _is_digits(s, 1, 18) and (s == "0" or s[0] != "0"))
    return _masked_cast(col, good, "0", pa.int64()), good


def _check_card(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    try:
        lengths = pc.binary_length(col)
        if pc.min(lengths).as_py() is None or (
            pc.min(lengths).as_py() >= 8
            and pc.max(lengths).as_py() <= 19
            and _digits_match(col, pc.cast(col, pa.uint64()))
        ):
            return col, None
    except pa.ArrowInvalid:
        pass
    return col, _by_value(col, lambda s: _is_digits(s, 8, 19))


def _is_number(s: str) -> bool:
    return _NUMBER_RE.fullmatch(s) is not None and np.isfinite(float(s))


def _check_number(col: pa.Array, limit: float = float("inf")) -> tuple[pa.Array, np.ndarray | None]:
    try:
        values = pc.cast(col, pa.float64())
        # "inf" and "nan" cast too, but are no JSON numbers (and NaN compares false)
        good = _to_numpy(pc.and_(pc.is_finite(values), pc.less_equal(pc.abs(values), limit)))
        return values, None if good.all() else good
    except pa.ArrowInvalid:
        pass
    good = _by_value(col, _is_number)
    values = _masked_cast(col, good, "0", pa.float64())
    return values, good & _to_numpy(pc.less_equal(pc.abs(values), limit))


def _check_timestamp(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    try:
        pc.cast(col, pa.timestamp("s"))
        offsets, data = _string_offsets(col)
        lengths = np.diff(offsets)
        if len(col) == 0 or ((lengths == 19).all() and (data[offsets[:-1] + 10] == ord(" ")).all()):
            return col, None
    except pa.ArrowInvalid:
        pass
    return col, _by_value(col, lambda s: _parses(s, _TIMESTAMP_RE, SOURCE_TIMESTAMP_FORMAT))


def _check_date(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    try:
        pc.cast(col, pa.date32())
        if (
            len(col) == 0
            or pc.min(pc.binary_length(col)).as_py() == pc.max(pc.binary_length(col)).as_py() == 10
        ):
            return col, None
    except pa.ArrowInvalid:
        pass
    return col, _by_value(col, lambda s: _parses(s, _DATE_RE, SOURCE_DOB_FORMAT))


def _parses(s: str, shape: re.Pattern[str], fmt: str) -> bool:
    if shape.fullmatch(s) is None:
        return False
    try:
        datetime.strptime(s, fmt)
    except ValueError:
        return False
    return True


def _check_member(col: pa.Array, allowed: pa.Array) -> np.ndarray | None:
    good = _to_numpy(pc.is_in(col, value_set=allowed))
    return None if good.all() else good


def _check_flag(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    good = _check_member(col, _FLAG_SET)
    if good is None:
        return pc.cast(col, pa.int64()), None
    return _masked_cast(col, good, "0", pa.int64()), good


def _check_text(col: pa.Array) -> tuple[pa.Array, np.ndarray | None]:
    good = _to_numpy(pc.greater(pc.binary_length(col), 0))
    return col, None if good.all() else good


_CHECKS: dict[str, Callable[[pa.Array], tuple[pa.Array, np.ndarray | None]]] = {
    "int": _check_int,
    "card": _check_card,
    "number": _check_number,
    "lat": lambda col: _check_number(col, 90.0),
    "long": lambda col: _check_number(col, 180.0),
    "timestamp": _check_timestamp,
    "date": _check_date,
    "category": lambda col: (col, _check_member(col, _CATEGORY_SET)),
    "flag": _check_flag,
    "text": _check_text,
    "any": lambda col: (col, None),
}


@dataclass
class ValidationReport:
    """What ``txviz validate`` reports about a Sparkov CSV."""

    path: Path
    rows: int = 0  # data lines read (valid + malformed)
    valid_rows: int = 0
    malformed_rows: int = 0
    malformed: list[Reject] = field(default_factory=list)  # the first MAX_EXAMPLES
    problems: Counter[str] = field(default_factory=Counter)  # failing column -> rows
    fraud_rows: int = 0
    cards: int = 0
    amount_total: float = 0.0
    first_event_time: str | None = None
    last_event_time: str | None = None
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def fraud_rate(self) -> float:
        return self.fraud_rows / self.valid_rows if self.valid_rows else 0.0

    @property
    def ok(self) -> bool:
        return self.valid_rows > 0 and self.malformed_rows == 0


def validate_csv(path: str | os.PathLike[str], *, rows: int | None = None) -> ValidationReport:
    """Check every row of a Sparkov CSV and summarise it (raises SchemaError on a bad header)."""
    report = ValidationReport(path=Path(path))
    cards: set[str] = set()
    for chunk in iter_checked_chunks(path, rows=rows):
        batch = chunk.rows
        report.rows += chunk.records
        report.valid_rows += batch.num_rows
        report.malformed_rows += len(chunk.rejects)
        room = MAX_EXAMPLES - len(report.malformed)
        report.malformed += chunk.rejects[: max(room, 0)]
        report.problems.update(r.column for r in chunk.rejects)
        if batch.num_rows == 0:
            continue
        report.fraud_rows += pc.sum(batch.column("is_fraud")).as_py()
        report.amount_total += pc.sum(batch.column("amt")).as_py()
        cards.update(pc.unique(batch.column("cc_num")).to_pylist())
        times = pc.min_max(batch.column("trans_date_trans_time"))
        low, high = times["min"].as_py(), times["max"].as_py()
        if report.first_event_time is None or low < report.first_event_time:
            report.first_event_time = low
        if report.last_event_time is None or high > report.last_event_time:
            report.last_event_time = high
        counts = pc.value_counts(batch.column("category"))
        report.categories.update(
            dict(
                zip(
                    counts.field("values").to_pylist(),
                    counts.field("counts").to_pylist(),
                    strict=True,
                )
            )
        )
    report.cards = len(cards)
    return report


def format_report(report: ValidationReport) -> str:
    """A human-readable summary of a ValidationReport."""
    verdict = "OK" if report.ok else ("NO VALID ROWS" if not report.valid_rows else "PROBLEMS")
    lines = [
        f"{report.path}: {verdict}",
        f"  rows            {report.rows:,}",
        f"  valid rows      {report.valid_rows:,}",
        f"  malformed rows  {report.malformed_rows:,}",
        f"  fraud rows      {report.fraud_rows:,} ({report.fraud_rate:.3%} of valid rows)",
        f"  cards           {report.cards:,}",
        f"  amount total    ${report.amount_total:,.2f}",
        f"  time range      {report.first_event_time or '-'} .. {report.last_event_time or '-'}",
        f"  categories      {len(report.categories)} seen",
    ]
    for name, count in sorted(report.categories.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"    {name:<16}{count:>12,}")
    unseen = sorted(set(CATEGORIES) - set(report.categories))
    if report.valid_rows and unseen:
        lines.append(f"    not seen: {', '.join(unseen)}")
    if report.malformed_rows:
        lines.append("  problems by column")
        for name, count in report.problems.most_common():
            lines.append(f"    {name:<28}{count:>8,}")
        shown = report.malformed[:20]
        lines.append(f"  first {len(shown)} malformed rows")
        for r in shown:
            lines.append(f"    line {r.line}: {r.reason}")
    return "\n".join(lines)
