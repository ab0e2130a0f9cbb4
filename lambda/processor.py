"""Kinesis Firehose transformation Lambda: validate, normalise, protect and score card transactions.

Standard library only, deployed alone (``processor.handler``). ``handler`` is a thin shell over
``process_records``, which the embedded stack calls directly to get each record's reason.

Input: Firehose Direct PUT records whose data is one NDJSON line of the replay (the keys of
``NDJSON_FIELDS``). Output per record, in input order: ``Ok`` with the landing line (the keys of
``LANDING_FIELDS``, in that order) and event-time partition keys, ``ProcessingFailed`` with the
original data (Firehose writes it under the error prefix), or ``Dropped`` for an exact byte
duplicate of an earlier record of the same invocation whose twin is delivered ``Ok``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

logger = logging.getLogger("txviz.processor")

OK = "Ok"
DROPPED = "Dropped"
PROCESSING_FAILED = "ProcessingFailed"

CARD_TOKEN_KEY_ENV = "TXVIZ_CARD_TOKEN_KEY"
# A short key lets anyone who guesses it brute-force card numbers from tokens (the BIN and last
# four leave only ~10^6-10^9 candidates), so a weak key is refused like a missing one.
MIN_CARD_TOKEN_KEY_CHARS = 16
# 32 hex chars = 128 bits: collisions need ~2^64 cards, and half the width keeps landing lines
# and dashboard tables small. Still keyed, so a token never reveals the card without the key.
CARD_TOKEN_HEX_CHARS = 32

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
# Lambda's synchronous payload limit ("6 MB") is 6,291,456 bytes each way; the budget leaves
# room for the {"records": [...]} envelope around the entries.
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
RESPONSE_BUDGET_BYTES = LAMBDA_PAYLOAD_LIMIT - 64

# Copies of txviz_pipeline.schema (this file is deployed alone); test_lambda_schema_agrees keeps
# them equal.
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
LANDING_FIELDS: tuple[str, ...] = (
    "trans_num",
    "row_id",
    "event_time",
    "unix_time",
    "category",
    "amount",
    "merchant",
    "merch_lat",
    "merch_long",
    "card_last4",
    "card_token",
    "gender",
    "city",
    "state",
    "zip",
    "lat",
    "long",
    "city_pop",
    "job",
    "age",
    "age_band",
    "hour",
    "distance_km",
    "is_fraud",
    "fraud_score",
    "fraud_reasons",
    "processed_at",
    "replay_id",
)
# Added by the replay to every record it sends, so reconciliation can tell replays apart;
# optional because other producers don't send it.
REPLAY_ID_FIELD = "replay_id"
REPLAY_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
CATEGORIES: tuple[str, ...] = (
    "entertainment",
    "food_dining",
    "gas_transport",
    "grocery_net",
    "grocery_pos",
    "health_fitness",
    "home",
    "kids_pets",
    "misc_net",
    "misc_pos",
    "personal_care",
    "shopping_net",
    "shopping_pos",
    "travel",
)
_CATEGORY_SET = frozenset(CATEGORIES)
_FIELD_SET = frozenset(NDJSON_FIELDS)
_FIELD_SET_WITH_REPLAY = _FIELD_SET | {REPLAY_ID_FIELD}
_REPLAY_ID_RE = re.compile(REPLAY_ID_PATTERN)

# Fraud rules. Sparkov fraud is ~80 % at 22:00-04:00 with inflated amounts in these categories,
# and amt >= $500 alone has a 23 % fraud rate on the real data. Per-category "high" amounts sit
# near the top of legitimate spending in each category; a later scorer learns them per card.
HIGH_RISK_CATEGORIES = frozenset(
    {"shopping_net", "shopping_pos", "misc_net", "misc_pos", "grocery_pos"}
)
NIGHT_HOURS = frozenset({22, 23, 0, 1, 2, 3})
LARGE_AMOUNT = 500.0
HIGH_AMOUNT_FOR_CATEGORY: dict[str, float] = {
    "entertainment": 300.0,
    "food_dining": 200.0,
    "gas_transport": 150.0,
    "grocery_net": 150.0,
    "grocery_pos": 250.0,
    "health_fitness": 200.0,
    "home": 300.0,
    "kids_pets": 250.0,
    "misc_net": 400.0,
    "misc_pos": 300.0,
    "personal_care": 200.0,
    "shopping_net": 400.0,
    "shopping_pos": 400.0,
    "travel": 1500.0,
}
# The score is the sum of the weights of the rules that fire, capped at 1: easy to read back
# from fraud_reasons.
RULE_WEIGHTS: dict[str, float] = {
    "amount_over_500": 0.35,
    "high_amount_for_category": 0.35,
    "night_hours": 0.15,
    "high_risk_category_night": 0.2,
    "high_risk_category": 0.05,
}

AGE_BANDS: tuple[tuple[int, str], ...] = (
    (25, "<25"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)
OLDEST_AGE_BAND = "65+"

EARTH_RADIUS_KM = 6371.0088

# [0-9] rather than \d: \d also matches non-ASCII digits, which int() and dates would accept.
_TIMESTAMP_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CARD_RE = re.compile(r"[0-9]{11,19}")
_TRANS_NUM_RE = re.compile(r"[0-9a-fA-F]{32}")
_ZIP_RE = re.compile(r"[0-9]{3,5}")
_STATE_RE = re.compile(r"[A-Z]{2}")
_GENDERS = frozenset({"M", "F"})
# Strings whose value must never appear in a reason or a log line.
_PRIVATE_FIELDS = frozenset({"cc_num", "first", "last", "street", "dob"})


class ConfigurationError(RuntimeError):
    """The Lambda is misconfigured (e.g. no card-token key); every record would be wrong."""


class RecordError(ValueError):
    """A record that cannot be transformed; ``str(err)`` is its reason, ``code`` its class."""

    def __init__(self, code: str, detail: str):
        self.code = code
        super().__init__(f"{code}: {detail}")


@dataclass(frozen=True)
class Result:
    """The outcome for one input record; ``reason`` says why it is not Ok (None when Ok)."""

    record_id: str | None
    result: str
    data: str
    reason: str | None = None
    partition_keys: dict[str, str] = field(default_factory=dict)

    def to_firehose(self) -> dict[str, Any]:
        """The response record in exactly AWS's shape (no extra keys)."""
        out: dict[str, Any] = {"recordId": self.record_id, "result": self.result, "data": self.data}
        if self.result == OK:
            out["metadata"] = {"partitionKeys": self.partition_keys}
        return out


def card_token_key(environ: dict[str, str] | None = None) -> bytes:
    """The HMAC key for card tokens from TXVIZ_CARD_TOKEN_KEY; raises ConfigurationError."""
    env = os.environ if environ is None else environ
    key = env.get(CARD_TOKEN_KEY_ENV, "")
    if not key:
        raise ConfigurationError(
            f"{CARD_TOKEN_KEY_ENV} is not set: card numbers cannot be tokenised. Set it to a "
            "secret of at least 16 characters (Secrets Manager / Lambda environment on AWS)."
        )
    if len(key) < MIN_CARD_TOKEN_KEY_CHARS:
        raise ConfigurationError(
            f"{CARD_TOKEN_KEY_ENV} is {len(key)} characters; at least "
            f"{MIN_CARD_TOKEN_KEY_CHARS} are needed so tokens cannot be brute-forced."
        )
    return key.encode("utf-8")


def handler(event: Any, context: Any) -> dict[str, list[dict[str, Any]]]:
    """Firehose transformation entry point: one response record per usable input recordId."""
    key = card_token_key()
    records = event.get("records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        logger.error(json.dumps({"event": "bad_event", "reason": "event has no 'records' list"}))
        return {"records": []}
    results = process_records(records, key)
    invocation = event.get("invocationId")
    counts = {OK: 0, DROPPED: 0, PROCESSING_FAILED: 0}
    response = []
    unreturnable = 0
    for index, res in enumerate(results):
        counts[res.result] += 1
        if res.reason is not None:
            logger.warning(
                json.dumps(
                    {
                        "event": "record_not_ok",
                        "invocationId": invocation if isinstance(invocation, str) else None,
                        "index": index,
                        "recordId": res.record_id,
                        "result": res.result,
                        "reason": res.reason,
                    }
                )
            )
        if res.record_id is None:
            unreturnable += 1
        else:
            response.append(res.to_firehose())
    logger.info(
        json.dumps(
            {
                "event": "batch_processed",
                "invocationId": invocation if isinstance(invocation, str) else None,
                "records": len(results),
                "ok": counts[OK],
                "dropped": counts[DROPPED],
                "failed": counts[PROCESSING_FAILED],
                "unreturnable": unreturnable,
            }
        )
    )
    return {"records": response}


def process_records(
    records: list[Any],
    key: bytes,
    now: datetime | None = None,
    response_budget: int = RESPONSE_BUDGET_BYTES,
) -> list[Result]:
    """Transform Firehose input records; one Result per entry, in order, never raising.

    An entry without a usable recordId (not a non-empty string) gets ``record_id=None``: the
    handler cannot return it to Firehose, but callers can still route it with its reason.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    processed_at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    # Event times are naive UTC; compare them with a naive UTC clock read once per batch.
    now = now.replace(tzinfo=None)
    # Byte-identical lines share one fate: the first is transformed, the rest are Dropped when
    # it is Ok (row_id makes distinct source rows distinct, so this only removes true repeats).
    first_index: dict[bytes, int] = {}
    results: list[Result] = []
    originals: list[str] = []
    twins: list[int | None] = []
    for entry in records:
        record_id = _record_id(entry)
        raw = entry.get("data") if isinstance(entry, dict) else None
        original = raw if isinstance(raw, str) else ""
        line: bytes | None = None
        twin: int | None = None
        try:
            if record_id is None:
                raise RecordError(
                    "missing_record_id", "input record has no non-empty string 'recordId'"
                )
            line = _decode(raw)
            twin = first_index.get(line)
            if twin is not None:
                result = _twin_result(record_id, original, results[twin])
            else:
                landing, keys = transform_line(line, key, now, processed_at)
                data = base64.b64encode(landing).decode("ascii")
                result = Result(record_id, OK, data, None, keys)
        except RecordError as err:
            failed = original if line is not None else _failed_data(raw)
            result = Result(record_id, PROCESSING_FAILED, failed, str(err))
        except Exception as err:  # noqa: BLE001 - one bad record must never fail the batch
            reason = f"internal_error: {type(err).__name__}"
            failed = original if line is not None else _failed_data(raw)
            result = Result(record_id, PROCESSING_FAILED, failed, reason)
        if line is not None and twin is None:
            first_index[line] = len(results)
        results.append(result)
        originals.append(original if result.result == OK else result.data)
        twins.append(twin)
    return _fit_response(results, originals, twins, response_budget)


def _failed_data(raw: Any) -> str:
    """Data for a record that never decoded: its own base64, or its text re-encoded as base64."""
    if not isinstance(raw, str):
        return ""
    try:
        base64.b64decode(raw, validate=True)
        return raw
    except (binascii.Error, ValueError):
        # Firehose always sends base64; other callers still get a response Firehose can read.
        return base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii")


def _twin_result(record_id: str, original: str, twin: Result) -> Result:
    if twin.result == OK:
        reason = (
            "duplicate: byte-identical to earlier record "
            f"{twin.record_id!r} of this batch, which is delivered Ok"
        )
        return Result(record_id, DROPPED, original, reason)
    return Result(record_id, PROCESSING_FAILED, original, twin.reason)


_SAMPLE_KEYS = {"event_year": "2019", "event_month": "01", "event_day": "01", "event_hour": "00"}
# json.dumps of a response entry (the Lambda runtime's defaults) around its recordId and data;
# base64 data needs no escaping and partition keys are fixed-width digits.
_ENTRY_FRAME = {
    result: len(json.dumps(Result("", result, "", None, _SAMPLE_KEYS).to_firehose())) - len('""')
    for result in (OK, DROPPED, PROCESSING_FAILED)
}


def _entry_size(res: Result) -> int:
    """Bytes this entry adds to the serialised response, with the ", " before the next one."""
    return _ENTRY_FRAME[res.result] + len(json.dumps(res.record_id)) + len(res.data) + 2


def _fit_response(
    results: list[Result], originals: list[str], twins: list[int | None], budget: int
) -> list[Result]:
    """Turn Ok records that would push the response past ``budget`` into ProcessingFailed.

    A landing line can be longer than its input line, so a full 6 MB invocation of valid
    records could otherwise overflow Lambda's 6 MB response. A failed entry (original data,
    no metadata) is never larger than its input entry, so reserving every later record's
    failed size keeps the whole response within the input's own size.
    """
    failed_sizes = [
        0
        if res.record_id is None
        else _entry_size(Result(res.record_id, PROCESSING_FAILED, original))
        for res, original in zip(results, originals, strict=True)
    ]
    if sum(_entry_size(r) for r in results if r.record_id is not None) <= budget:
        return results
    reserve = sum(failed_sizes)
    used = 0
    fitted: list[Result] = []
    for i, res in enumerate(results):
        reserve -= failed_sizes[i]
        twin = twins[i]
        if res.result == OK and used + _entry_size(res) + reserve > budget:
            res = Result(
                res.record_id,
                PROCESSING_FAILED,
                originals[i],
                f"response_limit: the batch's transformed records exceed {budget} bytes; "
                "this record was valid and can be delivered again",
            )
        elif res.result == DROPPED and twin is not None and fitted[twin].result != OK:
            res = Result(res.record_id, PROCESSING_FAILED, originals[i], fitted[twin].reason)
        if res.record_id is not None:
            used += _entry_size(res)
        fitted.append(res)
    return fitted


def _record_id(entry: Any) -> str | None:
    if isinstance(entry, dict):
        rid = entry.get("recordId")
        if isinstance(rid, str) and rid:
            return rid
    return None


def _decode(raw: Any) -> bytes:
    if not isinstance(raw, str):
        raise RecordError("bad_data", "record 'data' is not a base64 string")
    # Base64 of MAX_RECORD_BYTES is 4/3 longer; check before decoding to bound the work.
    if len(raw) > (MAX_RECORD_BYTES + 2) // 3 * 4 + 4:
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
        obj = json.loads(text, parse_constant=_reject_constant)
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


def validate(obj: dict[str, Any]) -> dict[str, Any]:
    """Check a parsed record's fields, types and ranges; typed values, or RecordError."""
    keys = obj.keys()
    if keys != _FIELD_SET and keys != _FIELD_SET_WITH_REPLAY:
        missing = [f for f in NDJSON_FIELDS if f not in obj]
        if missing:
            raise RecordError("missing_fields", ", ".join(missing))
        extra = sorted(k for k in keys if k not in _FIELD_SET_WITH_REPLAY)
        raise RecordError("unexpected_fields", ", ".join(_show(k) for k in extra[:10]))

    event_text = obj["trans_date_trans_time"]
    event_dt = _timestamp(event_text)
    dob = _date(obj["dob"])
    category = _text(obj, "category")
    if category not in _CATEGORY_SET:
        raise RecordError("bad_value", f"category {_show(category)} is not one of the 14")
    amount = _number(obj, "amt")
    if amount < 0:
        raise RecordError("bad_value", f"amt {amount} is negative")
    if amount > MAX_AMOUNT:
        raise RecordError("bad_value", f"amt {amount} is over {MAX_AMOUNT:,.0f}")
    is_fraud = obj["is_fraud"]
    if type(is_fraud) is not int or is_fraud not in (0, 1):
        raise RecordError("bad_value", f"is_fraud must be 0 or 1, got {_show(is_fraud)}")
    gender = _text(obj, "gender")
    if gender not in _GENDERS:
        raise RecordError("bad_value", f"gender must be 'M' or 'F', got {_show(gender)}")
    state = _text(obj, "state")
    if not _STATE_RE.fullmatch(state):
        raise RecordError("bad_value", f"state {_show(state)} is not a two-letter code")
    trans_num = _text(obj, "trans_num")
    if not _TRANS_NUM_RE.fullmatch(trans_num):
        raise RecordError("bad_value", f"trans_num {_show(trans_num)} is not 32 hex characters")
    for name in ("first", "last", "street"):
        if not isinstance(obj[name], str):
            raise RecordError("bad_type", f"{name} is a {_json_type(obj[name])}, expected a string")
    replay_id = obj.get(REPLAY_ID_FIELD)
    if replay_id is not None and not (
        isinstance(replay_id, str) and _REPLAY_ID_RE.fullmatch(replay_id)
    ):
        raise RecordError("bad_value", f"replay_id {_show(replay_id)} is not a replay name")
    return {
        "replay_id": replay_id,
        "row_id": _int(obj, "row_id", 0),
        "event_dt": event_dt,
        "event_text": event_text,
        "dob": dob,
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


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


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
    number = float(value) if type(value) is float else _int_to_float(name, value)
    if not math.isfinite(number):
        raise RecordError("bad_value", f"{name} is not finite")
    return number


def _int_to_float(name: str, value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        raise RecordError("bad_value", f"{name} is out of range") from None


def _int(obj: dict[str, Any], name: str, minimum: int) -> int:
    value = obj[name]
    if type(value) is not int:
        raise RecordError("bad_type", f"{name} is a {_json_type(value)}, expected an integer")
    if value < minimum or value > 2**63 - 1:
        raise RecordError("bad_value", f"{name} {_show(value)} is out of range")
    return value


def _coordinate(obj: dict[str, Any], name: str, limit: float) -> float:
    value = _number(obj, name)
    if not -limit <= value <= limit:
        raise RecordError("bad_value", f"{name} {value} is outside [-{limit:g}, {limit:g}]")
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
    # Sparkov writes zip as an integer, losing leading zeros (1257 is 01257); restore them.
    text = str(value) if type(value) is int else value
    if not isinstance(text, str) or not _ZIP_RE.fullmatch(text):
        raise RecordError("bad_value", f"zip {_show(value)} is not a 3-5 digit US zip code")
    return text.zfill(5)


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str) or not _TIMESTAMP_RE.fullmatch(value):
        raise RecordError(
            "bad_value",
            f"trans_date_trans_time {_show(value)} is not 'YYYY-MM-DD HH:MM:SS'",
        )
    try:
        # Sparkov times are naive; the pipeline treats them as UTC.
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(
            "bad_value", f"trans_date_trans_time {_show(value)} is not a real date and time"
        ) from None
    if parsed.year < MIN_EVENT_YEAR:
        raise RecordError("bad_value", f"trans_date_trans_time {_show(value)} is before 1970")
    return parsed


def _date(value: Any) -> date:
    # dob is personal data: its value never appears in a reason.
    if not isinstance(value, str) or not _DATE_RE.fullmatch(value):
        raise RecordError("bad_value", "dob is not 'YYYY-MM-DD'")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RecordError("bad_value", "dob is not a real date") from None


def age_at(dob: date, when: date) -> int:
    """Whole years between dob and when."""
    return when.year - dob.year - ((when.month, when.day) < (dob.month, dob.day))


def age_band(age: int) -> str:
    """The reporting band for an age: <25, 25-34, 35-44, 45-54, 55-64 or 65+."""
    for upper, band in AGE_BANDS:
        if age < upper:
            return band
    return OLDEST_AGE_BAND


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def score_fraud(amount: float, category: str, hour: int) -> tuple[float, list[str]]:
    """Transparent rule score in [0, 1] and the codes of the rules that fired."""
    reasons = []
    if amount >= LARGE_AMOUNT:
        reasons.append("amount_over_500")
    if amount > HIGH_AMOUNT_FOR_CATEGORY[category]:
        reasons.append("high_amount_for_category")
    night = hour in NIGHT_HOURS
    risky = category in HIGH_RISK_CATEGORIES
    if night:
        reasons.append("night_hours")
    if night and risky:
        reasons.append("high_risk_category_night")
    if risky:
        reasons.append("high_risk_category")
    score = min(1.0, sum(RULE_WEIGHTS[r] for r in reasons))
    return round(score, 3), reasons


def card_token(key: bytes, cc_num: str) -> str:
    """Keyed, irreversible card identifier: HMAC-SHA256(key, digits), first 32 hex chars."""
    return hmac.new(key, cc_num.encode("ascii"), hashlib.sha256).hexdigest()[:CARD_TOKEN_HEX_CHARS]


def partition_keys(event_text: str) -> dict[str, str]:
    """Firehose dynamic-partitioning keys from a validated 'YYYY-MM-DD HH:MM:SS' event time."""
    return {
        "event_year": event_text[0:4],
        "event_month": event_text[5:7],
        "event_day": event_text[8:10],
        "event_hour": event_text[11:13],
    }


def normalise(
    fields: dict[str, Any], key: bytes, now: datetime, processed_at: str
) -> dict[str, Any]:
    """Build the landing record (LANDING_FIELDS, in order); ``now`` is naive UTC."""
    event_dt: datetime = fields["event_dt"]
    if event_dt > now + FUTURE_TOLERANCE:
        raise RecordError(
            "bad_value", f"trans_date_trans_time {event_dt:%Y-%m-%d %H:%M:%S} is in the future"
        )
    age = age_at(fields["dob"], event_dt.date())
    if age < 0:
        raise RecordError("bad_value", "dob is after the transaction")
    if age > MAX_AGE_YEARS:
        raise RecordError("bad_value", f"dob gives an age of {age} (max {MAX_AGE_YEARS})")
    cc_num: str = fields["cc_num"]
    amount = round(fields["amount"], 2)
    hour = event_dt.hour
    score, reasons = score_fraud(amount, fields["category"], hour)
    return {
        "trans_num": fields["trans_num"],
        "row_id": fields["row_id"],
        "event_time": f"{fields['event_text'][:10]}T{fields['event_text'][11:]}Z",
        "unix_time": fields["unix_time"],
        "category": fields["category"],
        "amount": amount,
        "merchant": fields["merchant"],
        "merch_lat": fields["merch_lat"],
        "merch_long": fields["merch_long"],
        "card_last4": cc_num[-4:],
        "card_token": card_token(key, cc_num),
        "gender": fields["gender"],
        "city": fields["city"],
        "state": fields["state"],
        "zip": fields["zip"],
        "lat": fields["lat"],
        "long": fields["long"],
        "city_pop": fields["city_pop"],
        "job": fields["job"],
        "age": age,
        "age_band": age_band(age),
        "hour": hour,
        "distance_km": round(
            haversine_km(fields["lat"], fields["long"], fields["merch_lat"], fields["merch_long"]),
            3,
        ),
        "is_fraud": fields["is_fraud"],
        "fraud_score": score,
        "fraud_reasons": reasons,
        "processed_at": processed_at,
        "replay_id": fields["replay_id"],
    }


def transform_line(
    line: bytes, key: bytes, now: datetime, processed_at: str
) -> tuple[bytes, dict[str, str]]:
    """One NDJSON line to (landing line + newline, partition keys); ``now`` is naive UTC."""
    fields = validate(parse_line(line))
    landing = normalise(fields, key, now, processed_at)
    # ensure_ascii=False keeps non-ASCII text as compact as it arrived; compact separators keep
    # the landing line smaller than the input line, which bounds the response size.
    text = json.dumps(landing, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        encoded = text.encode("utf-8")
    except UnicodeEncodeError:
        # JSON escapes can smuggle lone surrogates ("\ud800") that no UTF-8 reader accepts.
        raise RecordError("bad_value", "text contains an unpaired UTF-16 surrogate") from None
    return encoded + b"\n", partition_keys(fields["event_text"])
