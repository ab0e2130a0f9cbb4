"""The processor's rules on checked rows: which converted rows it would refuse, and why.

Conversion accepts a row whose values have the right types; the processor also checks ranges
and shapes (an amount over $50,000, ``state='nc'``, a birth date after the transaction, ...).
``txviz validate`` applies both, so a file it calls clean is accepted row for row.

Every row is first screened on whole columns with numpy (a few byte reads per field, no
string per value): a row that passes every screen passes every processor rule. The few rows a
screen flags are laid out as the NDJSON line the replay would send and judged by
:func:`txviz_pipeline.rules.line_problem`, which names the processor's exact reason.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pyarrow as pa

from txviz_pipeline import rules
from txviz_pipeline.ingest.csvsource.blocks import Reject
from txviz_pipeline.ingest.csvsource.rows import CheckedChunk
from txviz_pipeline.ingest.ndjson import ndjson_lines
from txviz_pipeline.schema import NDJSON_FIELDS

_COLUMN = {name: i for i, name in enumerate(NDJSON_FIELDS)}
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_HEX = np.zeros(256, bool)
_HEX[list(b"0123456789abcdefABCDEF")] = True
_UPPER = np.zeros(256, bool)
_UPPER[ord("A") : ord("Z") + 1] = True
_DIGIT = np.zeros(256, bool)
_DIGIT[ord("0") : ord("9") + 1] = True
_GENDER = np.zeros(256, bool)
_GENDER[[ord(g) for g in rules.GENDERS]] = True
# A line's bytes are at most 6 times its fields' (a control character becomes "\u00XX"), plus
# the keys, quotes and a number's longest form.
_ESCAPE_FACTOR, _LINE_OVERHEAD = 6, 1_000
_MAX_FIELD_BYTES = (
    rules.MAX_RECORD_BYTES - rules.MAX_REPLAY_TAG_BYTES - _LINE_OVERHEAD
) // _ESCAPE_FACTOR


def refuse(chunk: CheckedChunk, now: datetime) -> CheckedChunk:
    """``chunk`` without the rows the processor would refuse at ``now`` (naive UTC), each now a
    Reject with the processor's reason."""
    if chunk.rows.num_rows == 0:
        return chunk
    flagged = np.flatnonzero(suspects(chunk.text, chunk.rows, now))
    if not len(flagged):
        return chunk
    picked = pa.array(flagged)
    few = CheckedChunk(
        text=chunk.text.take(picked),
        rows=chunk.rows.take(picked),
        lines=chunk.lines[flagged],
        rejects=[],
    )
    keep = np.ones(chunk.rows.num_rows, bool)
    refused: list[Reject] = []
    for i, line in zip(flagged, ndjson_lines(few).to_pylist(), strict=True):
        problem = rules.line_problem(line.encode("utf-8"), now)
        if problem is not None:
            keep[i] = False
            refused.append(Reject(int(chunk.lines[i]), str(problem), problem.field or "(record)"))
    if keep.all():
        return chunk
    mask = pa.array(keep)
    return CheckedChunk(
        text=chunk.text.filter(mask),
        rows=chunk.rows.filter(mask),
        lines=chunk.lines[keep],
        rejects=sorted(chunk.rejects + refused, key=lambda r: r.line),
    )


class _Strings:
    """A string column's bytes: value i is ``data[start[i]:start[i] + length[i]]``. When every
    value has the same length (dates, states, trans_num: nearly always), the values are also
    the rows of one byte matrix, read column by column without a gather."""

    def __init__(self, column: pa.Array):
        offsets = np.frombuffer(column.buffers()[1], np.int32, len(column) + 1, column.offset * 4)
        data = column.buffers()[2]
        self.data = np.frombuffer(data, np.uint8) if data else np.zeros(1, np.uint8)
        self.start = offsets[:-1]
        self.length = np.diff(offsets)
        width = int(self.length[0]) if len(self.length) else 0
        self.matrix: np.ndarray | None = None
        if width and (self.length == width).all():
            base = int(offsets[0])
            self.matrix = self.data[base : base + width * len(self.length)].reshape(-1, width)

    def byte(self, k: int) -> np.ndarray:
        """Byte k of each value (of a later value, or the last byte, past a short one's end:
        callers check the length)."""
        if self.matrix is not None and k < self.matrix.shape[1]:
            return self.matrix[:, k]
        return self.data[np.minimum(self.start + k, len(self.data) - 1)]

    def digits(self, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Whether bytes first.. first+count-1 are ASCII digits, and the number they write."""
        ok = np.ones(len(self.start), bool)
        value = np.zeros(len(self.start), np.int64)
        for k in range(first, first + count):
            b = self.byte(k)
            ok &= _DIGIT[b]
            value = value * 10 + (b.astype(np.int64) - ord("0"))
        return ok, value

    def all_bytes(self, table: np.ndarray, count: int) -> np.ndarray:
        """Whether every byte of each value (up to ``count``) is one that ``table`` allows."""
        if self.matrix is not None and self.matrix.shape[1] <= count:
            return table[self.matrix].all(axis=1)
        ok = np.ones(len(self.start), bool)
        for k in range(count):
            ok &= table[self.byte(k)] | (k >= self.length)
        return ok


def _date(s: _Strings, at: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whether "YYYY-MM-DD" at byte ``at`` is a real date, its year and YYYYMMDD."""
    y_ok, year = s.digits(at, 4)
    m_ok, month = s.digits(at + 5, 2)
    d_ok, day = s.digits(at + 8, 2)
    dashes = (s.byte(at + 4) == ord("-")) & (s.byte(at + 7) == ord("-"))
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
    ok = y_ok & m_ok & d_ok & dashes & (year >= 1) & (month >= 1) & (month <= 12)
    ok &= (day >= 1) & (day <= last)
    return ok, year, (year * 100 + month) * 100 + day


def suspects(text: pa.RecordBatch, rows: pa.RecordBatch, now: datetime) -> np.ndarray:
    """Rows that may break a processor rule: every row that does is flagged (a flagged row may
    still pass). ``text`` and ``rows`` are a CheckedChunk's good rows."""
    col = {name: _Strings(text.column(i)) for name, i in _COLUMN.items()}
    flag = np.zeros(text.num_rows, bool)

    # The event time: a real 'YYYY-MM-DD HH:MM:SS' from 1970 to a day from now.
    ts = col["trans_date_trans_time"]
    ok, year, day = _date(ts, 0)
    h_ok, hour = ts.digits(11, 2)
    mi_ok, minute = ts.digits(14, 2)
    s_ok, second = ts.digits(17, 2)
    ok &= (ts.length == 19) & (ts.byte(10) == ord(" ")) & h_ok & mi_ok & s_ok
    ok &= (ts.byte(13) == ord(":")) & (ts.byte(16) == ord(":"))
    ok &= (hour <= 23) & (minute <= 59) & (second <= 59) & (year >= rules.MIN_EVENT_YEAR)
    latest = now + rules.FUTURE_TOLERANCE
    limit = int(latest.strftime("%Y%m%d%H%M%S")) if latest.year < 10_000 else 10**14
    ok &= ((day * 100 + hour) * 100 + minute) * 100 + second <= limit
    flag |= ~ok

    # The birth date: real, and an age of 0 to MAX_AGE_YEARS at the event.
    dob = col["dob"]
    ok, born, birthday = _date(dob, 0)
    ok &= (dob.length == 10) & (birthday <= day)
    flag |= ~ok | ((born + rules.MAX_AGE_YEARS + 1) * 10_000 + birthday % 10_000 <= day)

    amount = rows.column("amt").to_numpy(zero_copy_only=False)
    flag |= ~((amount >= 0) & (amount <= rules.MAX_AMOUNT))
    gender, state = col["gender"], col["state"]
    flag |= (gender.length != 1) | ~_GENDER[gender.byte(0)]
    flag |= (state.length != 2) | ~_UPPER[state.byte(0)] | ~_UPPER[state.byte(1)]
    trans_num = col["trans_num"]
    flag |= (trans_num.length != rules.TRANS_NUM_HEX) | ~trans_num.all_bytes(_HEX, 32)
    low, high = rules.CARD_DIGITS
    flag |= col["cc_num"].length < low  # the conversion checked digits and at most 19
    zip_code = col["zip"]
    low, high = rules.ZIP_DIGITS
    flag |= (zip_code.length < low) | (zip_code.length > high) | ~zip_code.all_bytes(_DIGIT, high)
    # Text: at most MAX_TEXT_CHARS (bytes bound characters); a merchant that starts with a
    # space or a non-ASCII character may be nothing but white space.
    merchant = col["merchant"]
    first = merchant.byte(0)
    flag |= (first <= ord(" ")) | (first >= 0x7F)
    for name in ("merchant", "city", "job"):
        flag |= col[name].length > rules.MAX_TEXT_CHARS
    # The line as sent must stay under the processor's size limit.
    flag |= sum(s.length for s in col.values()) > _MAX_FIELD_BYTES
    return flag
