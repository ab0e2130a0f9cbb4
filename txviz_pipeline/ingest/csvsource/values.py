"""The value checks of each column, on whole pyarrow columns, with the reason a value fails."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.schema import (
    CATEGORIES,
    NDJSON_FIELDS,
    SOURCE_DOB_FORMAT,
    SOURCE_TIMESTAMP_FORMAT,
)

# How each column is checked and typed, in NDJSON order.
COLUMN_KINDS: dict[str, str] = {
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
# What a value of each kind must be, for a reason: "bad_value: <field> is <problem>".
PROBLEMS: dict[str, str] = {
    "int": "not a whole number",
    "card": "not a card number (8-19 digits)",
    "number": "not a number",
    "lat": "not a latitude between -90 and 90",
    "long": "not a longitude between -180 and 180",
    "timestamp": "not a 'YYYY-MM-DD HH:MM:SS' timestamp",
    "date": "not a 'YYYY-MM-DD' date",
    "category": f"not one of the {len(CATEGORIES)} Sparkov categories",
    "flag": "not 0 or 1",
    "text": "empty",
}

_POW10 = np.array([10**k for k in range(20)], dtype=np.uint64)
_NUMBER_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_TIMESTAMP_RE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
_DATE_RE = re.compile(r"\d{4}-\d\d-\d\d")
_CATEGORY_SET = pa.array(CATEGORIES, pa.string())
_FLAG_SET = pa.array(["0", "1"], pa.string())


def _to_numpy(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def check_columns(
    columns: list[pa.Array],
) -> tuple[list[pa.Array], np.ndarray, Callable[[int], str]]:
    """Typed columns, a per-row ok mask, and a function naming a bad row's first bad field."""
    n = len(columns[0])
    ok = np.ones(n, dtype=bool)
    typed: list[pa.Array] = []
    column_ok: list[np.ndarray | None] = []
    for name, col in zip(NDJSON_FIELDS, columns, strict=True):
        kind = COLUMN_KINDS[name]
        values, good = _CHECKS[kind](col)
        typed.append(values)
        column_ok.append(good)
        if good is not None:
            ok &= good

    def failed(i: int) -> str:
        for name, good in zip(NDJSON_FIELDS, column_ok, strict=True):
            if good is not None and not good[i]:
                return name
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
