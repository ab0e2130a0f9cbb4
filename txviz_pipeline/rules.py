"""The processor's validity rules for one replayed record, in the package.

The processor Lambda (``lambda/validate.py``, standard library only, deployed without this
package) refuses a record for the first rule it breaks, in a fixed order. This module applies
the same rules in the same order, so ``txviz validate`` names the reason the processor would
give: the same code and field (``bad_value: state``, ``too_large``, ...).
``test_rules_agree`` runs both on the same rows and fails on any difference.

A :class:`Problem` names the field and what was expected, never the value: a shifted row can
put a card number or a date of birth in any column.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from txviz_pipeline.schema import CATEGORIES, NDJSON_FIELDS, REPLAY_ID_FIELD, REPLAY_ID_PATTERN

# Firehose caps a record at 1,000 KiB; the processor refuses anything past 16 KiB.
MAX_RECORD_BYTES = 16 * 1024
# What the replay adds to each line, with the longest replay id: ',"replay_id":"<id>"'.
MAX_REPLAY_TAG_BYTES = len(f',"{REPLAY_ID_FIELD}":""') + 128
MAX_AMOUNT = 50_000.0
FUTURE_TOLERANCE = timedelta(days=1)
MIN_EVENT_YEAR = 1970
MAX_AGE_YEARS = 120
MAX_TEXT_CHARS = 200
MAX_INT64 = 2**63 - 1
LATITUDE_LIMIT, LONGITUDE_LIMIT = 90.0, 180.0
GENDERS = ("M", "F")
CARD_DIGITS = (11, 19)
ZIP_DIGITS = (3, 5)
TRANS_NUM_HEX = 32
# The text fields the landing record keeps, which must encode as UTF-8.
LANDING_TEXT_FIELDS = ("merchant", "city", "job")

_FIELDS = frozenset(NDJSON_FIELDS)
_FIELDS_WITH_REPLAY = _FIELDS | {REPLAY_ID_FIELD}
_CATEGORY_SET = frozenset(CATEGORIES)
_REPLAY_ID_RE = re.compile(REPLAY_ID_PATTERN)
# [0-9], not \d: \d also matches non-ASCII digits.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CARD_RE = re.compile(f"[0-9]{{{CARD_DIGITS[0]},{CARD_DIGITS[1]}}}")
_TRANS_NUM_RE = re.compile(f"[0-9a-fA-F]{{{TRANS_NUM_HEX}}}")
_ZIP_RE = re.compile(f"[0-9]{{{ZIP_DIGITS[0]},{ZIP_DIGITS[1]}}}")
_STATE_RE = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True)
class Problem:
    """Why the processor refuses a record: its reason code, the field (None for the whole
    record) and what was expected."""

    code: str
    field: str | None
    expected: str

    def __str__(self) -> str:
        subject = self.field or "record"
        return f"{self.code}: {subject} {self.expected}"


class _Refused(Exception):
    def __init__(self, code: str, field: str | None, expected: str):
        self.problem = Problem(code, field, expected)


def line_problem(line: bytes, now: datetime) -> Problem | None:
    """Why the processor refuses the replayed NDJSON ``line`` at ``now`` (naive UTC), or None.

    The size counts the replay id the replay adds (at its longest, so a line that passes here
    passes whatever the replay's name).
    """
    try:
        if len(line) + MAX_REPLAY_TAG_BYTES > MAX_RECORD_BYTES:
            raise _Refused("too_large", None, f"is over {MAX_RECORD_BYTES:,} bytes as sent")
        obj = _parse(line)
        fields = _validate(obj, now)
        for name in LANDING_TEXT_FIELDS:
            try:
                fields[name].encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused("bad_value", None, "text holds an unpaired surrogate") from None
    except _Refused as refused:
        return refused.problem
    return None


def _parse(line: bytes) -> dict[str, Any]:
    line = line.removesuffix(b"\n")
    if not line.strip():
        raise _Refused("empty_record", None, "is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused("not_utf8", None, "is not UTF-8") from None
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise _Refused("invalid_json", None, "is not one JSON value") from None
    if not isinstance(obj, dict):
        raise _Refused("not_object", None, "is not a JSON object")
    return obj


def _no_constant(name: str) -> None:
    raise _Refused("bad_value", None, "holds a number JSON does not allow")


def _validate(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The processor's field checks, in its order; the fields the landing record keeps."""
    keys = obj.keys()
    if keys != _FIELDS and keys != _FIELDS_WITH_REPLAY:
        missing = [f for f in NDJSON_FIELDS if f not in obj]
        if missing:
            raise _Refused("missing_fields", missing[0], "is missing (the first of those missing)")
        raise _Refused("unexpected_fields", None, "has fields the schema lacks")
    event = _timestamp(obj["trans_date_trans_time"])
    dob = _date(obj["dob"])
    if _text(obj, "category") not in _CATEGORY_SET:
        raise _Refused("bad_value", "category", f"is not one of the {len(CATEGORIES)}")
    amount = _number(obj, "amt")
    if not 0 <= amount <= MAX_AMOUNT:
        raise _Refused("bad_value", "amt", f"is not between 0 and {MAX_AMOUNT:,.0f}")
    is_fraud = obj["is_fraud"]
    if type(is_fraud) is not int or is_fraud not in (0, 1):
        raise _Refused("bad_value", "is_fraud", "is not 0 or 1")
    if _text(obj, "gender") not in GENDERS:
        raise _Refused("bad_value", "gender", "is not 'M' or 'F'")
    if not _STATE_RE.fullmatch(_text(obj, "state")):
        raise _Refused("bad_value", "state", "is not two capital letters")
    if not _TRANS_NUM_RE.fullmatch(_text(obj, "trans_num")):
        raise _Refused("bad_value", "trans_num", f"is not {TRANS_NUM_HEX} hex characters")
    for name in ("first", "last", "street"):
        if not isinstance(obj[name], str):
            raise _Refused("bad_type", name, "is not a string")
    replay_id = obj.get(REPLAY_ID_FIELD)
    if replay_id is not None and not (
        isinstance(replay_id, str) and _REPLAY_ID_RE.fullmatch(replay_id)
    ):
        raise _Refused("bad_value", REPLAY_ID_FIELD, "is not a replay name")
    # The processor reads these in this order (its landing fields' order).
    _int(obj, "row_id")
    _card(obj["cc_num"])
    fields = {"merchant": _text(obj, "merchant", nonempty=True), "city": _text(obj, "city")}
    _zip(obj["zip"])
    _number(obj, "lat", LATITUDE_LIMIT)
    _number(obj, "long", LONGITUDE_LIMIT)
    _int(obj, "city_pop")
    fields["job"] = _text(obj, "job")
    _int(obj, "unix_time")
    _number(obj, "merch_lat", LATITUDE_LIMIT)
    _number(obj, "merch_long", LONGITUDE_LIMIT)
    if event > now + FUTURE_TOLERANCE:
        raise _Refused("bad_value", "trans_date_trans_time", "is more than a day in the future")
    age = event.year - dob.year - ((event.month, event.day) < (dob.month, dob.day))
    if age < 0:
        raise _Refused("bad_value", "dob", "is after the transaction")
    if age > MAX_AGE_YEARS:
        raise _Refused("bad_value", "dob", f"gives an age over {MAX_AGE_YEARS}")
    return fields


def _text(obj: dict[str, Any], name: str, nonempty: bool = False) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise _Refused("bad_type", name, "is not a string")
    if len(value) > MAX_TEXT_CHARS:
        raise _Refused("bad_value", name, f"is over {MAX_TEXT_CHARS} characters")
    if nonempty and not value.strip():
        raise _Refused("bad_value", name, "is empty")
    return value


def _number(obj: dict[str, Any], name: str, limit: float | None = None) -> float:
    value = obj[name]
    if type(value) not in (int, float):
        raise _Refused("bad_type", name, "is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise _Refused("bad_value", name, "is out of range") from None
    if not math.isfinite(number):
        raise _Refused("bad_value", name, "is not finite")
    if limit is not None and not -limit <= number <= limit:
        raise _Refused("bad_value", name, f"is not between -{limit:g} and {limit:g}")
    return number


def _int(obj: dict[str, Any], name: str) -> None:
    value = obj[name]
    if type(value) is not int:
        raise _Refused("bad_type", name, "is not an integer")
    if not 0 <= value <= MAX_INT64:
        raise _Refused("bad_value", name, "is not between 0 and 2^63 - 1")


def _card(value: Any) -> None:
    if type(value) is int:
        digits = str(value) if value > 0 else ""
    elif isinstance(value, str):
        digits = value
    else:
        raise _Refused("bad_type", "cc_num", "is not a string of digits")
    if not _CARD_RE.fullmatch(digits):
        raise _Refused("bad_value", "cc_num", f"is not {CARD_DIGITS[0]}-{CARD_DIGITS[1]} digits")


def _zip(value: Any) -> None:
    if not _ZIP_RE.fullmatch(str(value)):
        raise _Refused("bad_value", "zip", f"is not {ZIP_DIGITS[0]}-{ZIP_DIGITS[1]} digits")


def _timestamp(value: Any) -> datetime:
    name = "trans_date_trans_time"
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        raise _Refused("bad_value", name, "is not 'YYYY-MM-DD HH:MM:SS'")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Refused("bad_value", name, "is not a real date and time") from None
    if parsed.year < MIN_EVENT_YEAR:
        raise _Refused("bad_value", name, f"is before {MIN_EVENT_YEAR}")
    return parsed


def _date(value: Any) -> date:
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise _Refused("bad_value", "dob", "is not 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Refused("bad_value", "dob", "is not a real date") from None
