"""The quarantine record: what the processor keeps of a record it refuses, with no personal data.

A refused record is returned ``Ok`` with one compact JSON line instead of its own data, so
Firehose writes that line under ``quarantine/`` and never the record as it arrived. The line
keeps what an operator needs to find, fix and re-send the source row: the reason, ``row_id``,
``trans_num``, ``replay_id``, the card's last four digits and token, and every other field of
the transaction as received. It never keeps the card number, names, street or date of birth,
nor a field the transaction does not have (an unexpected ``cvv`` is named in the reason, never
kept), nor the value of the field the reason names (a value in the wrong shape may be a street
or a card number shifted into the wrong column). Card-number-like digit runs in kept text are
masked.

The redaction rules are a standard-library copy of ``txviz_pipeline/redact.py``
(``test_lambda_redaction_agrees`` keeps them equal); on top of them a field that is not a
string, number, boolean or null is masked (no transaction field is an object or array), as is
a number of 11 or more digits (a card number where a number belongs).
"""

from __future__ import annotations

import json
import re
from typing import Any

from validate import NDJSON_FIELDS, REPLAY_ID_FIELD, REPLAY_ID_PATTERN

# --- copies of txviz_pipeline.redact --------------------------------------------------------
PERSONAL_FIELDS: frozenset[str] = frozenset({"cc_num", "first", "last", "street", "dob"})
CARD_FIELD = "cc_num"
REDACTED = "[redacted]"
DIGIT_RUN_PATTERN = r"[0-9]{9,}|[0-9]{4}(?:[ -][0-9]{4,6}){2,}"
CARD_DIGITS_PATTERN = r"[0-9]{11,19}"
TRANS_NUM_PATTERN = r"[0-9a-fA-F]{32}"
# -------------------------------------------------------------------------------------------

# A number this large has 11+ digits: never an amount, coordinate, population or unix time.
LARGEST_KEPT_NUMBER = 10**10
# Reasons are capped so a quarantine line stays small whatever the record held.
MAX_REASON_CHARS = 240

_DIGIT_RUN = re.compile(DIGIT_RUN_PATTERN)
_CARD_DIGITS = re.compile(CARD_DIGITS_PATTERN)
_TRANS_NUM = re.compile(TRANS_NUM_PATTERN)
_REPLAY_ID = re.compile(REPLAY_ID_PATTERN)
# Fields that lead the quarantine line, in this order; the rest follow in input order.
_HEAD = ("row_id", "trans_num", REPLAY_ID_FIELD)
_KEPT_FIELDS = frozenset(NDJSON_FIELDS) - PERSONAL_FIELDS - set(_HEAD)
# Hints read from a record that never parsed: the replay writes row_id first, replay_id last.
_ROW_ID_HINT = re.compile(rb'^\{"row_id": ?([0-9]{1,18})[,}]')
_TRANS_NUM_HINT = re.compile(rb'"trans_num": ?"([0-9a-fA-F]{32})"')
_REPLAY_ID_HINT = re.compile(rb'"replay_id": ?"(' + REPLAY_ID_PATTERN.encode() + rb')"')


def card_last4(value: Any) -> str | None:
    """The last four digits of a card number (11-19 digits, a string or an integer), else None."""
    digits = str(value) if type(value) is int else value
    if isinstance(digits, str) and _CARD_DIGITS.fullmatch(digits):
        return digits[-4:]
    return None


def scrub(text: str) -> str:
    """``text`` with every run of nine or more digits (a card number out of place) masked."""
    return _DIGIT_RUN.sub(REDACTED, text)


def kept_value(name: str, value: Any) -> Any:
    """What a quarantine line may hold of one non-personal field's value."""
    if isinstance(value, str):
        # trans_num is 32 hex characters, often with nine digits in a row: not a card number.
        if name == "trans_num" and _TRANS_NUM.fullmatch(value):
            return value
        # A replay's name passes through to landing lines too; it identifies no one.
        if name == REPLAY_ID_FIELD and _REPLAY_ID.fullmatch(value):
            return value
        return scrub(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if abs(value) < LARGEST_KEPT_NUMBER else REDACTED
    return REDACTED


def refused_record(
    obj: dict[str, Any],
    reason: str,
    card_token: Any,
    quarantined_at: str,
    refused_field: str | None = None,
) -> dict[str, Any]:
    """The quarantine line of a parsed record the processor refused (``card_token(cc_num)``).

    The value of ``refused_field`` (the field the reason names) is masked: a value in the wrong
    shape is the likeliest to be something else, such as a street or a card number.
    """
    out: dict[str, Any] = {"reason": reason[:MAX_REASON_CHARS]}
    for name in _HEAD:
        value = obj.get(name)
        out[name] = (
            REDACTED if name == refused_field and value is not None else kept_value(name, value)
        )
    last4 = card_last4(obj.get(CARD_FIELD))
    if last4 is not None:
        out["card_last4"] = last4
        out["card_token"] = card_token(str(obj[CARD_FIELD]))
    for name, value in obj.items():
        if name in _KEPT_FIELDS:
            out[name] = REDACTED if name == refused_field else kept_value(name, value)
    out["quarantined_at"] = quarantined_at
    return out


def unreadable_record(reason: str, data: bytes | None, size: int, quarantined_at: str) -> dict:
    """The quarantine line of a record that never parsed: its reason and size only.

    ``row_id``, ``trans_num`` and ``replay_id`` are added when the bytes show them where the
    replay writes them, so reconciliation still finds the row; nothing else is read.
    """
    out: dict[str, Any] = {"reason": reason[:MAX_REASON_CHARS], "size_bytes": size}
    if data:
        row = _ROW_ID_HINT.search(data)
        trans_num = _TRANS_NUM_HINT.search(data)
        replay = _REPLAY_ID_HINT.search(data)
        if row:
            out["row_id"] = int(row.group(1))
        if trans_num:
            out["trans_num"] = trans_num.group(1).decode("ascii")
        if replay:
            out[REPLAY_ID_FIELD] = replay.group(1).decode("ascii")
    out["quarantined_at"] = quarantined_at
    return out


def minimal_record(landing: dict[str, Any], reason: str, quarantined_at: str) -> dict[str, Any]:
    """A short quarantine line for a valid record that did not fit the response."""
    out = {"reason": reason[:MAX_REASON_CHARS]}
    for name in ("row_id", "trans_num", REPLAY_ID_FIELD, "card_last4", "card_token"):
        out[name] = landing.get(name)
    out["quarantined_at"] = quarantined_at
    return out


def encode(record: dict[str, Any]) -> bytes:
    """One compact JSON line; text that UTF-8 cannot carry (lone surrogates) is escaped."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"
