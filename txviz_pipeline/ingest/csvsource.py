"""Reading a Sparkov CSV safely: header check, then every row checked in vectorised chunks.

The header is checked before any row is read, so a wrong file (the ULB creditcard.csv, a
reordered export) fails at once with the missing and unexpected columns named. Rows are then
read in chunks of whole lines: pyarrow parses each chunk as strings, pyarrow compute kernels
check and type every column, and rows that fail (wrong field count, unparseable number or
timestamp, unknown category, broken UTF-8, ...) come out as :class:`Reject` records with their
line number and a reason instead of stopping the read. Chunks are checked on a small thread
pool (pyarrow releases the GIL) and handed back in file order.

``iter_checked_chunks`` is the engine shared by ``validate_csv`` (``txviz validate``) and the
NDJSON conversion in :mod:`txviz_pipeline.ingest.convert`.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

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
DEFAULT_CHUNK_BYTES = 4 << 20  # ~15k Sparkov rows per block
MAX_LINE_BYTES = 1 << 20  # a longer "line" is rejected and skipped, so memory stays bounded
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
    blocks = line_blocks(path, rows=rows, chunk_bytes=chunk_bytes)
    return map_in_order(check_block, blocks, workers)


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
    """Whole lines of the data section (``data`` ends with a newline), or one line that was
    rejected before parsing (``too_long``)."""

    data: bytes
    first_line: int
    too_long: Reject | None = None


def line_blocks(
    path: str | os.PathLike[str], *, rows: int | None = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> Iterator[LineBlock]:
    """The data lines of a CSV, ~chunk_bytes at a time; ``rows`` stops after N lines."""
    remaining = rows if rows is not None else -1
    line = 2  # line 1 is the header
    with open(path, "rb") as f:
        f.readline(MAX_LINE_BYTES)
        carry = b""
        while remaining != 0:
            block = f.read(chunk_bytes)
            data = carry + block
            if not block:  # end of file: a last line without "\n"
                if data:
                    yield LineBlock(data + b"\n", line)
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    yield LineBlock(b"", line, _skip_long_line(f, data, line))
                    line += 1
                    remaining -= 1
                    carry = b""
                else:
                    carry = data
                continue
            data, carry = data[:cut], data[cut:]
            count = data.count(b"\n")
            if 0 <= remaining < count:
                ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10)
                data, count = data[: ends[remaining - 1] + 1], remaining
            yield LineBlock(data, line)
            line += count
            if remaining > 0:
                remaining -= count


def _skip_long_line(f, head: bytes, line: int) -> Reject:
    """Reject a line longer than MAX_LINE_BYTES without holding it in memory."""
    while True:
        block = f.readline(MAX_LINE_BYTES)
        if not block or block.endswith(b"\n"):
            break
    text = head[:200].decode("utf-8", "replace")
    return Reject(line, f"line longer than {MAX_LINE_BYTES} bytes", text, "(line length)")


def check_block(block: LineBlock) -> CheckedChunk:
    """Parse and check a block of lines: typed good rows and a Reject for every other line."""
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
    columns, short = parsed_lines
    for i, fields in short:
        reason = f"expected {FIELD_COUNT} fields, found {fields}"
        rejects.append(Reject(int(line_no[kept[i]]), reason, raw(kept[i]), "(field count)"))
    parsed = np.delete(kept, [i for i, _ in short])

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


def _parse(data: bytes, lines: int) -> tuple[list[pa.Array], list[tuple[int, int]]] | None:
    """Split lines into string columns, plus (line index, field count) for each line with the
    wrong number of fields. None if pyarrow fails or its records do not map 1:1 onto lines
    (invalid UTF-8; a stray quote can make its parser join two lines)."""
    if lines == 0:
        return [pa.array([], pa.string())] * FIELD_COUNT, []
    short: list[tuple[int, int]] = []

    def wrong_count(row: pv.InvalidRow) -> str:
        short.append((row.number - 1 if row.number is not None else -1, row.actual_columns))
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
    if table.num_rows + len(short) != lines or any(i < 0 for i, _ in short):
        return None
    table = table.combine_chunks()
    return [table.column(i).chunk(0) for i in range(FIELD_COUNT)], short


def _parse_slowly(data: bytes) -> tuple[list[pa.Array], list[tuple[int, int]]]:
    """One line at a time with the csv module: each line is one record whatever its quotes."""
    rows: list[list[str]] = []
    short: list[tuple[int, int]] = []
    for i, line in enumerate(data.decode("utf-8").split("\n")[:-1]):
        fields = next(csv.reader([line.removesuffix("\r")]), [])
        if len(fields) == FIELD_COUNT:
            rows.append(fields)
        else:
            short.append((i, len(fields)))
    columns = list(zip(*rows, strict=True)) if rows else [()] * FIELD_COUNT
    return [pa.array(c, pa.string()) for c in columns], short


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
        good = _to_numpy(pc.less_equal(pc.abs(values), limit))  # NaN compares false
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
