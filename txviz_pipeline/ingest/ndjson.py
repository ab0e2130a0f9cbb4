"""The NDJSON line of every good row of a block of CSV lines, laid out without per-row Python.

A block whose rows all pass the scan (:func:`~txviz_pipeline.ingest.csvsource.scan.scan_block`,
nearly every block of a real file) is laid out by one Arrow ``take``: the block buffer starts
with the 24 JSON literals (``{"row_id":``, ``,"trans_date_trans_time":"``, ...), every field is
a view of its CSV bytes in the same buffer, and each line is literal 0, field 0, literal 1, ...,
literal 23. Any other block is parsed and checked row by row
(:func:`~txviz_pipeline.ingest.csvsource.rows.check_lines`), its rejects kept with their line
numbers; tests prove both ways write the same bytes.

Values are the CSV's own characters. ``cc_num``, ``zip``, ``dob`` and
``trans_date_trans_time`` are JSON strings exactly as in the CSV (a card number never passes
through a float); ``row_id``, ``city_pop``, ``unix_time`` and ``is_fraud`` are JSON integers;
``amt``, ``lat``, ``long``, ``merch_lat`` and ``merch_long`` are JSON numbers with the CSV's
text ("4.97" stays ``4.97``, "45.0" stays ``45.0``), so amounts are exact to the cent. A
number the CSV writes in a form JSON does not allow (".5", "007", or "45" that a JSON reader
would turn into an int) is written as Python's repr of the same double (``0.5``, ``45.0``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.ingest.csvsource.blocks import LineBlock, Reject
from txviz_pipeline.ingest.csvsource.rows import FIELD_COUNT, ROW_SCHEMA, CheckedChunk, check_lines
from txviz_pipeline.ingest.csvsource.scan import FieldSpans, scan_block
from txviz_pipeline.schema import NDJSON_FIELDS

_DIGITS = np.zeros(256, dtype=bool)
_DIGITS[ord("0") : ord("9") + 1] = True


@dataclass(frozen=True)
class NdjsonBlock:
    """The NDJSON of one block of CSV lines: good row i is ``data[bounds[i]:bounds[i + 1]]``."""

    data: pa.Buffer
    bounds: np.ndarray
    lines_in: int
    rejects: list[Reject]
    first_event_time: str | None
    last_event_time: str | None

    @property
    def rows(self) -> int:
        return len(self.bounds) - 1

    def row_id(self, row: int) -> int:
        """The row_id of good row ``row``, read back from its line ({"row_id":N,...)."""
        start = int(self.bounds[row]) + len(_LITERALS[0])
        head = self.data[start : start + 24].to_pybytes()
        return int(head[: head.index(b",")])


def ndjson_block(block: LineBlock) -> NdjsonBlock:
    """Check a block of CSV lines and build the NDJSON line of each good row."""
    spans = scan_block(block, head=len(_PREFIX_BOUNDS))
    if spans is not None:
        return _spans_ndjson(spans)
    chunk = check_lines(block)
    lines = ndjson_lines(chunk)
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    times = chunk.rows.column("trans_date_trans_time")
    return NdjsonBlock(
        data=lines.buffers()[2] or pa.py_buffer(b""),
        bounds=offsets,
        lines_in=chunk.records,
        rejects=chunk.rejects,
        first_event_time=pc.min(times).as_py(),
        last_event_time=pc.max(times).as_py(),
    )


def _literals() -> list[bytes]:
    """What goes before each field and after the last field: ``{"row_id":``,
    ``,"trans_date_trans_time":"``, ``","cc_num":"``, ..., ``}\n``."""
    quoted = [pa.types.is_string(kind) for kind in ROW_SCHEMA.types]
    literals = []
    for i, name in enumerate(NDJSON_FIELDS):
        close = '"' if i and quoted[i - 1] else ""
        literals.append(f'{close}{"," if i else "{"}"{name}":{chr(34) if quoted[i] else ""}')
    literals.append(('"' if quoted[-1] else "") + "}\n")
    return [literal.encode() for literal in literals]


_LITERALS = _literals()
# line_blocks puts the literals in front of each block, so one Arrow array holds the literals
# and every field (all views into the same buffer), and one ``take`` lays out the NDJSON.
BLOCK_PREFIX = b"".join(_LITERALS)
_PREFIX_BOUNDS = np.cumsum([0] + [len(literal) for literal in _LITERALS])
_PIECES_PER_LINE = 2 * FIELD_COUNT + 1
_template = [pa.array([], pa.int32())]
_template_lock = threading.Lock()


def _line_pieces(rows: int) -> pa.Array:
    """Which pieces make up ``rows`` lines: literal 0, field 0, literal 1, ..., literal 23."""
    needed = rows * _PIECES_PER_LINE
    with _template_lock:
        template = _template[0]
        if len(template) < needed:
            # Blocks of one file hold about as many rows each: grow rarely.
            size = max(rows + rows // 4, 2 * len(template) // _PIECES_PER_LINE)
            pieces = np.empty((size, _PIECES_PER_LINE), np.int32)
            pieces[:, 0::2] = np.arange(FIELD_COUNT + 1, dtype=np.int32)
            # Piece 24 is the gap between the literals and the first field; field j is
            # piece 25 + 2j, and the gap after it 26 + 2j.
            fields = np.arange(size * FIELD_COUNT, dtype=np.int32).reshape(size, FIELD_COUNT)
            pieces[:, 1::2] = len(_LITERALS) + 1 + 2 * fields
            template = _template[0] = pa.array(pieces.reshape(-1))
    return template.slice(0, needed)


def _spans_ndjson(spans: FieldSpans) -> NdjsonBlock:
    buffer = spans.block.buffer
    offsets = spans.bounds
    offsets[: spans.head] = _PREFIX_BOUNDS
    pieces = pa.Array.from_buffers(
        pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(buffer)]
    )
    # The indices come from _line_pieces, so Arrow need not check their bounds.
    lines = pc.take(pieces, _line_pieces(spans.rows), boundscheck=False)
    bounds = np.frombuffer(lines.buffers()[1], np.int64, len(lines) + 1)[::_PIECES_PER_LINE]
    return NdjsonBlock(
        data=lines.buffers()[2],
        bounds=bounds,
        lines_in=spans.rows,
        rejects=[],
        first_event_time=spans.first_event_time,
        last_event_time=spans.last_event_time,
    )


def ndjson_lines(chunk: CheckedChunk) -> pa.Array:
    """One JSON object per good row, keys in NDJSON_FIELDS order, each ending in a newline."""
    if chunk.text.num_rows == 0:
        return pa.array([], pa.string())
    pieces: list[pa.Array | str] = []
    for i, (name, kind) in enumerate(zip(NDJSON_FIELDS, ROW_SCHEMA.types, strict=True)):
        key = ("{" if i == 0 else ",") + f'"{name}":'
        text = chunk.text.column(i)
        if pa.types.is_string(kind):
            pieces += [key + '"', _json_string(text), '"']
        elif pa.types.is_floating(kind):
            pieces += [key, _json_float(text, chunk.rows.column(i))]
        else:  # checked integers are plain digits already
            pieces += [key, text]
    pieces.append("}\n")
    return pc.binary_join_element_wise(*_merge_literals(pieces), "")


def _offsets_and_data(col: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    data = col.buffers()[2]
    return offsets, np.frombuffer(data, np.uint8) if data is not None else np.zeros(1, np.uint8)


def _json_string(col: pa.Array) -> pa.Array:
    offsets, data = _offsets_and_data(col)
    values = data[offsets[0] : offsets[-1]]
    if not ((values < 32).any() or (values == ord('"')).any() or (values == ord("\\")).any()):
        return col
    # Rare: no Sparkov value holds a quote, backslash or control character.
    return pa.array([json.dumps(v, ensure_ascii=False)[1:-1] for v in col.to_pylist()])


def _json_float(text: pa.Array, values: pa.Array) -> pa.Array:
    """The CSV's own text when it is JSON number syntax with a point or exponent, otherwise
    Python's repr of the same double (".5", "+1", "007"; "45", which a JSON reader would
    take for an int)."""
    offsets, data = _offsets_and_data(text)
    starts, ends = offsets[:-1], offsets[1:]
    last_byte = len(data) - 1
    first = data[starts]
    lead_at = starts + (first == ord("-"))
    lead = data[np.minimum(lead_at, last_byte)]
    after_lead = data[np.minimum(lead_at + 1, last_byte)]
    not_json = (
        (first == ord("+"))
        | (lead == ord("."))
        | (data[ends - 1] == ord("."))
        | ((lead == ord("0")) & (lead_at + 1 < ends) & _DIGITS[after_lead])
    )
    v = values.to_numpy()
    rewrite = set(np.flatnonzero(not_json).tolist())
    whole = np.flatnonzero((v == np.trunc(v)) & ~not_json)  # few: only these can lack a point
    rewrite.update(i for i in whole.tolist() if not _has_point(text[i].as_py()))
    if not rewrite:
        return text
    strings = text.to_pylist()
    for i in rewrite:
        strings[i] = repr(float(v[i]))
    return pa.array(strings, pa.string())


def _has_point(number: str) -> bool:
    return "." in number or "e" in number or "E" in number


def _merge_literals(pieces: list[pa.Array | str]) -> list[pa.Array | str]:
    merged: list[pa.Array | str] = []
    for piece in pieces:
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged
