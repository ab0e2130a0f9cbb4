"""Reading and rejecting: a block's lines parsed into typed rows, and a Reject with its line
number and reason for every line that is no good row."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pv

from txviz_pipeline.ingest.csvsource.blocks import LineBlock, Reject
from txviz_pipeline.ingest.csvsource.values import COLUMN_KINDS, PROBLEMS, check_columns
from txviz_pipeline.schema import NDJSON_FIELDS, SOURCE_COLUMNS, SOURCE_TYPES

log = logging.getLogger(__name__)

FIELD_COUNT = len(SOURCE_COLUMNS)


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

    rejects: list[Reject] = []
    bad = ends == starts
    rejects += [
        Reject(int(line_no[i]), "empty_record: line is empty", "(empty line)")
        for i in np.flatnonzero(bad)
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
                rejects.append(Reject(int(line_no[i]), "not_utf8: line is not UTF-8", "(encoding)"))
        kept_data = _without(data, bad, starts, newlines)
        parsed_lines = _parse(kept_data, int((~bad).sum())) or _parse_slowly(kept_data)
    kept = np.flatnonzero(~bad)
    columns, unparsed = parsed_lines
    for i, reason, column in unparsed:
        rejects.append(Reject(int(line_no[kept[i]]), reason, column))
    parsed = np.delete(kept, [i for i, _, _ in unparsed])

    typed, ok, failed = check_columns(columns)
    for i in np.flatnonzero(~ok):
        name = failed(int(i))
        reason = f"bad_value: {name} is {PROBLEMS[COLUMN_KINDS[name]]}"
        fields = {f: col[int(i)].as_py() for f, col in zip(NDJSON_FIELDS, columns, strict=True)}
        rejects.append(Reject(int(line_no[parsed[i]]), reason, name, fields))
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
        except csv.Error:
            # Only a carriage return outside quotes gets here (lines hold no "\n").
            what = "a carriage return outside quotes" if "\r" in line else "no CSV"
            reason = f"bad_csv: line holds {what}"
            unparsed.append((i, reason, "(line break)"))
            continue
        if len(fields) == FIELD_COUNT:
            rows.append(fields)
        else:
            unparsed.append(_wrong_count(i, len(fields)))
    columns = list(zip(*rows, strict=True)) if rows else [()] * FIELD_COUNT
    return [pa.array(c, pa.string()) for c in columns], unparsed


def _wrong_count(index: int, fields: int) -> Unparsed:
    return index, f"bad_csv: line has {fields} fields, expected {FIELD_COUNT}", "(field count)"
