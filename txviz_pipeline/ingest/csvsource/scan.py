"""The fast validity scan: a block whose rows are all good, found and checked in place.

Most blocks of a real file hold nothing but well-formed rows: for those, numpy finds every
field's bytes in the block buffer and checks the values in place, eight bytes at a time
(:mod:`.lanes`), without a string per value. A block with anything unusual in it (a reject, an
escaped quote, a backslash, a number JSON would not take as written, ...) is left to the row
checks (:mod:`.rows`), which decide about each of its rows, so both ways give the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from txviz_pipeline.ingest.csvsource.blocks import LineBlock
from txviz_pipeline.ingest.csvsource.lanes import (
    KEEP,
    category_table,
    equal_lanes,
    matches,
    nondigits,
    real_date,
    two_digits,
)
from txviz_pipeline.ingest.csvsource.rows import FIELD_COUNT
from txviz_pipeline.ingest.csvsource.values import COLUMN_KINDS
from txviz_pipeline.schema import NDJSON_FIELDS

# The values are checked a slice of rows at a time: the temporaries of a whole block (~14 MB)
# were more than glibc keeps between blocks by default, so each block took fresh pages from
# the kernel (~45,000 page faults per 200,000 rows); slices of 2,048 rows need a few MB.
ROWS_PER_CHECK = 2_048


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

    def line_numbers(self) -> np.ndarray:
        """The line number of each row."""
        return self.block.first_line + np.arange(self.rows)


_COMMA, _QUOTE, _NEWLINE, _RETURN, _BACKSLASH = (ord(c) for c in ',"\n\r\\')


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
    times = _values_ok(block.buffer, starts, ends)
    if times is None:
        return None
    first, last = (
        _text_at(block, starts, int(np.argmin(times))),
        _text_at(block, starts, int(np.argmax(times))),
    )
    return FieldSpans(block, bounds, head, first, last)


def _values_ok(buffer: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray | None:
    """_fast_values_ok over slices of ROWS_PER_CHECK rows."""
    times = []
    for row in range(0, len(starts), ROWS_PER_CHECK):
        rows = slice(row, row + ROWS_PER_CHECK)
        slice_times = _fast_values_ok(buffer, starts[rows], ends[rows])
        if slice_times is None:
            return None
        times.append(slice_times)
    return np.concatenate(times)


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


def _columns(*kinds: str) -> list[int]:
    return [i for i, name in enumerate(NDJSON_FIELDS) if COLUMN_KINDS[name] in kinds]


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
    ts0, ts1, ts2 = w0[0], w1[0], w2[0] & KEEP[3]
    ok = (length[0] == 19) & (length[1] == 10) & (length[3] == 1)
    ok &= matches(ts0, "dddd-dd-") & matches(ts1, "dd dd:dd") & matches(ts2, ":dd")
    day_ok, day = real_date(ts0, two_digits(ts1, 0))
    hour, minute, second = two_digits(ts1, 3), two_digits(ts1, 6), two_digits(ts2, 1)
    ok &= day_ok & (hour <= 23) & (minute <= 59) & (second <= 59)
    dob0, dob1 = w0[1], w1[1] & KEEP[2]
    ok &= matches(dob0, "dddd-dd-") & matches(dob1, "dd")
    ok &= real_date(dob0, two_digits(dob1, 0))[0]

    # The category, by a perfect hash and one comparison.
    multiplier, first, second_word, names = category_table()
    n = length[2]
    c0, c1 = w0[2] & KEEP[np.minimum(n, 8)], w1[2] & KEEP[np.clip(n - 8, 0, 8)]
    slot = ((c0 ^ c1 * np.uint64(31) ^ n.astype(np.uint64)) * multiplier) >> np.uint64(58)
    ok &= (first[slot] == c0) & (second_word[slot] == c1) & (names[slot] == n) & (n > 0)
    ok &= (w0[3] & np.uint64(0xFE)) == ord("0")  # is_fraud: 0 or 1

    # Integers: digits only, within their words; no leading zero but in the card number.
    n = length[_INTEGERS]
    bad = nondigits(w0[_INTEGERS]) & KEEP[np.minimum(n, 8)]
    bad |= nondigits(w1[_INTEGERS]) & KEEP[np.clip(n - 8, 0, 8)]
    bad[0] |= nondigits(w2[4]) & KEEP[np.clip(n[0] - 16, 0, 8)]
    zero = (w0[5:8] & np.uint64(0xFF)) == ord("0")
    ok &= (bad == 0).all(axis=0) & (n[0] >= 8) & (n[0] <= 19)
    ok &= ((n[1:] >= 1) & (n[1:] <= 16) & (~zero | (n[1:] == 1))).all(axis=0)

    # Decimals in JSON's own form, -?(0|[1-9][0-9]*)[.][0-9]+ with the point within the
    # first 8 bytes, and latitudes/longitudes below 90/180 in absolute value.
    n = length[_DECIMALS]
    d0 = w0[_DECIMALS]
    keep0 = KEEP[np.minimum(n, 8)]
    minus = (d0 & np.uint64(0xFF)) == ord("-")
    points = equal_lanes(d0, ord(".")) & keep0
    sign = minus.astype(np.uint64) << np.uint64(7)
    shape = ((nondigits(d0) & keep0) == (points | sign)) & (np.bitwise_count(points) == 1)
    shape &= (nondigits(w1[_DECIMALS]) & KEEP[np.clip(n - 8, 0, 8)]) == 0
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
