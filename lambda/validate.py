"""Is this a transaction? One Firehose record's data to typed, range-checked fields, or RecordError.

Every rule a record must pass lives here; ``records`` only builds the landing line from what
passed. A reason names the field and what was expected, never the value it holds: a shifted
or hostile record can carry a card number or a birth date in any field.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from datetime import date, datetime, timedelta
from typing import Any

# Sparkov's 14 categories, in the order the fraud model indexes them.
from cardhistory import CATEGORIES

# Copies of txviz_pipeline.schema (the Lambda is deployed without the package);
# test_lambda_schema_agrees keeps them equal.
NDJSON_FIELDS: tuple[str, ...] = (
    "row_id",
    "trans_date_trans_time",
    "cc_num",
    "merchant",
    "category",
    "amt",
    "first",
    "last",
    "gender",
    "street",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "dob",
    "trans_num",
    "unix_time",
    "merch_lat",
    "merch_long",
    "is_fraud",
)
# Added by the replay to every record it sends, so reconciliation can tell replays apart;
# optional because other producers don't send it.
REPLAY_ID_FIELD = "replay_id"
REPLAY_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"

# Firehose caps a record at 1,000 KiB; a transaction line is ~450 bytes. Anything past 16 KiB is
# not a transaction, and refusing it before parsing bounds the CPU a hostile record can cost.
MAX_RECORD_BYTES = 16 * 1024
# Sparkov's largest amount is $28,948.90; past $50,000 a value is a unit or parsing error, not a
# card purchase (cards' single-purchase limits sit far below it).
MAX_AMOUNT = 50_000.0
# Replayed history is in the past; a clock-skew allowance keeps live generators working.
FUTURE_TOLERANCE = timedelta(days=1)
MIN_EVENT_YEAR = 1970
MAX_AGE_YEARS = 120
MAX_TEXT_CHARS = 200
# Integers land in int64 columns.
MAX_INT64 = 2**63 - 1

_CATEGORY_SET = frozenset(CATEGORIES)
_FIELD_SET = frozenset(NDJSON_FIELDS)
_FIELD_SET_WITH_REPLAY = _FIELD_SET | {REPLAY_ID_FIELD}
_REPLAY_ID_RE = re.compile(REPLAY_ID_PATTERN)
# [0-9] rather than \d: \d also matches non-ASCII digits, which int() and dates would accept.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CARD_RE = re.compile(r"[0-9]{11,19}")
_TRANS_NUM_RE = re.compile(r"[0-9a-fA-F]{32}")
_ZIP_RE = re.compile(r"[0-9]{3,5}")
_STATE_RE = re.compile(r"[A-Z]{2}")
_GENDERS = frozenset({"M", "F"})
# A field name a reason may show: a short identifier with no run of digits.
_FIELD_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_DIGITS_RE = re.compile(r"[0-9]{5,}")
# Base64 of MAX_RECORD_BYTES is 4/3 longer (plus padding).
_MAX_BASE64_CHARS = (MAX_RECORD_BYTES + 2) // 3 * 4 + 4


class RecordError(ValueError):
    """A record that cannot be transformed; ``str(err)`` is its reason, ``<code>: <detail>``.

    A ``bad_value`` or ``bad_type`` detail starts with the field's name; ``field`` holds it
    (None for reasons about the whole record), so the quarantine line can leave that value out.
    """

    def __init__(self, code: str, detail: str):
        super().__init__(f"{code}: {detail}")
        name = detail.split(" ", 1)[0]
        known = code in ("bad_value", "bad_type") and name in _FIELD_SET_WITH_REPLAY
        self.field: str | None = name if known else None


def decode(raw: Any) -> bytes:
    """A Firehose record's base64 data as bytes, refusing anything larger than a transaction."""
    if not isinstance(raw, str):
        raise RecordError("bad_data", "record 'data' is not a base64 string")
    # Checked before decoding to bound the work.
    if len(raw) > _MAX_BASE64_CHARS:
        raise RecordError(
            "too_large",
            f"record is ~{len(raw) * 3 // 4} bytes; a transaction is under "
            f"{MAX_RECORD_BYTES} bytes",
        )
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as err:
        raise RecordError("not_base64", f"record data is not valid base64 ({err})") from None
    if len(data) > MAX_RECORD_BYTES:
        raise RecordError(
            "too_large", f"record is {len(data)} bytes; a transaction is under {MAX_RECORD_BYTES}"
        )
    return data


def _reject_constant(name: str) -> None:
    raise RecordError("bad_value", f"{name} is not a number JSON allows")


# One decoder for every record: json.loads with an argument builds a new one per call, which
# was 3 % of the processor's time.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_line(line: bytes) -> dict[str, Any]:
    """Decode one NDJSON line (trailing newline optional) into a JSON object, or RecordError."""
    if line.endswith(b"\n"):
        line = line[:-1]
    if not line.strip():
        raise RecordError("empty_record", "record is empty")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecordError("not_utf8", f"record is not UTF-8 (byte {err.start})") from None
    try:
        if text.startswith("\ufeff"):  # what json.loads refuses before decoding
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        obj = _DECODER.decode(text)
    except RecordError:
        raise
    except RecursionError:
        raise RecordError("invalid_json", "JSON nested too deeply") from None
    except ValueError as err:
        raise RecordError("invalid_json", f"record is not one JSON value ({err})") from None
    if not isinstance(obj, dict):
        raise RecordError("not_object", f"record is a JSON {_json_type(obj)}, expected an object")
    return obj


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def validate(obj: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Check a parsed record's fields, types and ranges at ``now`` (naive UTC); typed values."""
    keys = obj.keys()
    if keys != _FIELD_SET and keys != _FIELD_SET_WITH_REPLAY:
        missing = [f for f in NDJSON_FIELDS if f not in obj]
        if missing:
            raise RecordError("missing_fields", ", ".join(missing))
        extra = sorted(k for k in keys if k not in _FIELD_SET_WITH_REPLAY)
        raise RecordError("unexpected_fields", _field_names(extra))

    event_text = obj["trans_date_trans_time"]
    event_dt = _timestamp(event_text)
    dob = _date(obj["dob"])
    category = _text(obj, "category")
    if category not in _CATEGORY_SET:
        raise RecordError("bad_value", "category is not one of the 14")
    amount = _number(obj, "amt")
    if amount < 0:
        raise RecordError("bad_value", "amt is negative")
    if amount > MAX_AMOUNT:
        raise RecordError("bad_value", f"amt is over {MAX_AMOUNT:,.0f}")
    is_fraud = obj["is_fraud"]
    if type(is_fraud) is not int or is_fraud not in (0, 1):
        raise RecordError("bad_value", "is_fraud must be 0 or 1")
    gender = _text(obj, "gender")
    if gender not in _GENDERS:
        raise RecordError("bad_value", "gender must be 'M' or 'F'")
    state = _text(obj, "state")
    if not _STATE_RE.fullmatch(state):
        raise RecordError("bad_value", "state is not two capital letters")
    trans_num = _text(obj, "trans_num")
    if not _TRANS_NUM_RE.fullmatch(trans_num):
        raise RecordError("bad_value", "trans_num is not 32 hex characters")
    for name in ("first", "last", "street"):
        if not isinstance(obj[name], str):
            raise RecordError("bad_type", f"{name} is a {_json_type(obj[name])}, expected a string")
    replay_id = obj.get(REPLAY_ID_FIELD)
    if replay_id is not None and not (
        isinstance(replay_id, str) and _REPLAY_ID_RE.fullmatch(replay_id)
    ):
        raise RecordError("bad_value", "replay_id is not a replay name")
    fields = {
        "replay_id": replay_id,
        "row_id": _int(obj, "row_id", 0),
        "event_dt": event_dt,
        "event_text": event_text,
        "cc_num": _card(obj["cc_num"]),
        "merchant": _text(obj, "merchant", nonempty=True),
        "category": category,
        "amount": amount,
        "gender": gender,
        "city": _text(obj, "city"),
        "state": state,
        "zip": _zip(obj["zip"]),
        "lat": _coordinate(obj, "lat", 90.0),
        "long": _coordinate(obj, "long", 180.0),
        "city_pop": _int(obj, "city_pop", 0),
        "job": _text(obj, "job"),
        "trans_num": trans_num.lower(),
        "unix_time": _int(obj, "unix_time", 0),
        "merch_lat": _coordinate(obj, "merch_lat", 90.0),
        "merch_long": _coordinate(obj, "merch_long", 180.0),
        "is_fraud": is_fraud,
    }
    if event_dt > now + FUTURE_TOLERANCE:
        raise RecordError("bad_value", "trans_date_trans_time is more than a day in the future")
    age = age_at(dob, event_dt.date())
    if age < 0:
        raise RecordError("bad_value", "dob is after the transaction")
    if age > MAX_AGE_YEARS:
        raise RecordError("bad_value", f"dob gives an age over {MAX_AGE_YEARS}")
    fields["age"] = age
    return fields


def age_at(dob: date, when: date) -> int:
    """Whole years between dob and when."""
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


def _field_names(names: list[str]) -> str:
    """Unexpected field names for a reason: plain identifiers only, the rest only counted."""
    shown = [n for n in names if _FIELD_NAME_RE.fullmatch(n) and not _DIGITS_RE.search(n)]
    text = ", ".join(shown[:10])
    others = len(names) - len(shown[:10])
    if others:
        text += f"{', ' if text else ''}{others} other field name(s)"
    return text


def _text(obj: dict[str, Any], name: str, nonempty: bool = False) -> str:
    value = obj[name]
    if not isinstance(value, str):
        raise RecordError("bad_type", f"{name} is a {_json_type(value)}, expected a string")
    if len(value) > MAX_TEXT_CHARS:
        raise RecordError("bad_value", f"{name} is {len(value)} characters (max {MAX_TEXT_CHARS})")
    if nonempty and not value.strip():
        raise RecordError("bad_value", f"{name} is empty")
    return value


def _number(obj: dict[str, Any], name: str) -> float:
    value = obj[name]
    # bool is an int in Python; JSON true/false are never amounts or coordinates.
    if type(value) not in (int, float):
        raise RecordError("bad_type", f"{name} is a {_json_type(value)}, expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer past float's range
        raise RecordError("bad_value", f"{name} is out of range") from None
    # A literal past float's range (1e999) parses as infinity.
    if not math.isfinite(number):
        raise RecordError("bad_value", f"{name} is not finite")
    return number


def _int(obj: dict[str, Any], name: str, minimum: int) -> int:
    value = obj[name]
    if type(value) is not int:
        raise RecordError("bad_type", f"{name} is a {_json_type(value)}, expected an integer")
    if value < minimum or value > MAX_INT64:
        raise RecordError("bad_value", f"{name} is out of range")
    return value


def _coordinate(obj: dict[str, Any], name: str, limit: float) -> float:
    value = _number(obj, name)
    if not -limit <= value <= limit:
        raise RecordError("bad_value", f"{name} is outside [-{limit:g}, {limit:g}]")
    return value


def _card(value: Any) -> str:
    # Card numbers are identifiers: digits in a string (or an exact JSON integer). A float has
    # already lost digits past 2^53, so it is refused rather than silently corrupted.
    if type(value) is int:
        digits = str(value) if value > 0 else ""
    elif isinstance(value, str):
        digits = value
    elif type(value) is float:
        raise RecordError("bad_type", "cc_num is a float; card numbers must be exact digits")
    else:
        raise RecordError(
            "bad_type", f"cc_num is a {_json_type(value)}, expected a string of digits"
        )
    if not _CARD_RE.fullmatch(digits):
        raise RecordError("bad_value", f"cc_num must be 11-19 digits (got {len(digits)} chars)")
    return digits


def _zip(value: Any) -> str:
    # Sparkov writes zip as an integer, losing leading zeros (1257 is 01257); restore them. Any
    # other type's text (28654.0, None, True) is not 3-5 digits.
    text = str(value)
    if not _ZIP_RE.fullmatch(text):
        raise RecordError("bad_value", "zip is not a 3-5 digit US zip code")
    return text.zfill(5)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        raise RecordError(
            "bad_value",
            "trans_date_trans_time is not 'YYYY-MM-DD HH:MM:SS'",
        )
    try:
        # Sparkov times are naive; the pipeline treats them as UTC.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(
            "bad_value", "trans_date_trans_time is not a real date and time"
        ) from None
    if parsed.year < MIN_EVENT_YEAR:
        raise RecordError("bad_value", "trans_date_trans_time is before 1970")
    return parsed


def _date(value: Any) -> date:
    # dob is personal data: its value never appears in a reason.
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise RecordError("bad_value", "dob is not 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordError("bad_value", "dob is not a real date") from None
