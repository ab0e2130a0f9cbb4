"""What of a refused, rejected or dead-lettered record may be kept at rest.

Past the source CSV (and its private NDJSON staging), a record that txviz keeps for an operator
to fix and re-send holds no card number, name, street or date of birth: it keeps its reason,
``row_id``, ``trans_num``, the card's last four digits and every other field, so the operator
can find the source row and see what was wrong. The processor Lambda keeps its own copy of these
rules for quarantined records (lambda/quarantine.py, standard library only;
``test_lambda_redaction_agrees`` keeps the two equal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from txviz_pipeline.schema import REPLAY_ID_FIELD, REPLAY_ID_PATTERN

# Fields that identify a person or a card; never written past the staging.
PERSONAL_FIELDS: frozenset[str] = frozenset({"cc_num", "first", "last", "street", "dob"})
CARD_FIELD = "cc_num"
REDACTED = "[redacted]"

# A card number in the wrong place: nine or more digits in a row, or groups of four to six
# digits joined by spaces or dashes ("4652 1234 1234 1234", "3782-822463-10005"). Dates and
# times ("2019-01-01 00:00:18") have shorter groups and stay.
DIGIT_RUN_PATTERN = r"[0-9]{9,}|[0-9]{4}(?:[ -][0-9]{4,6}){2,}"
CARD_DIGITS_PATTERN = r"[0-9]{11,19}"
# A well-formed trans_num (32 hex characters) often has nine digits in a row; it is kept.
TRANS_NUM_PATTERN = r"[0-9a-fA-F]{32}"
# A number this large has 11+ digits: never an amount, coordinate, population or unix time,
# but possibly a card number where a number belongs.
LARGEST_KEPT_NUMBER = 10**10

_DIGIT_RUN = re.compile(DIGIT_RUN_PATTERN)
_CARD_DIGITS = re.compile(CARD_DIGITS_PATTERN)
_TRANS_NUM = re.compile(TRANS_NUM_PATTERN)
_REPLAY_ID = re.compile(REPLAY_ID_PATTERN)


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
    """What may be kept of one non-personal field's value.

    Text is scrubbed (a well-formed ``trans_num`` or ``replay_id`` is kept as is), numbers of 11
    or more digits and anything that is not a string, number, boolean or null are masked.
    """
    if isinstance(value, str):
        if name == "trans_num" and _TRANS_NUM.fullmatch(value):
            return value
        if name == REPLAY_ID_FIELD and _REPLAY_ID.fullmatch(value):
            return value
        return scrub(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value if abs(value) < LARGEST_KEPT_NUMBER else REDACTED
    return REDACTED


def redacted(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its personal fields, with ``card_last4``; stray digit runs masked."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in PERSONAL_FIELDS:
            continue
        out[name] = kept_value(name, value)
    out["card_last4"] = card_last4(record.get(CARD_FIELD))
    return out
