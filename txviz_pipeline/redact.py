"""What of a refused, rejected or dead-lettered record may be kept at rest.

Past the source CSV (and its private NDJSON staging), a record that txviz keeps for an operator
to fix and re-send holds no card number, name, street or date of birth: it keeps its reason,
``row_id``, ``trans_num``, the card's last four digits and every other field, so the operator
can find the source row and see what was wrong. The processor Lambda keeps its own copy of these
rules for quarantined records (lambda/, standard library only).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Fields that identify a person or a card; never written past the staging.
PERSONAL_FIELDS: frozenset[str] = frozenset({"cc_num", "first", "last", "street", "dob"})
CARD_FIELD = "cc_num"
REDACTED = "[redacted]"

# A card number in the wrong place: nine or more digits in a row, or groups of four to six
# digits joined by spaces or dashes ("4652 1234 1234 1234", "3782-822463-10005"). Dates and
# times ("2019-01-01 00:00:18") have shorter groups and stay.
_DIGIT_RUN = re.compile(r"[0-9]{9,}|[0-9]{4}(?:[ -][0-9]{4,6}){2,}")
_CARD_DIGITS = re.compile(r"[0-9]{11,19}")


def card_last4(value: Any) -> str | None:
    """The last four digits of a card number (11-19 digits, a string or an integer), else None."""
    digits = str(value) if type(value) is int else value
    if isinstance(digits, str) and _CARD_DIGITS.fullmatch(digits):
        return digits[-4:]
    return None


def scrub(text: str) -> str:
    """``text`` with every run of nine or more digits (a card number out of place) masked."""
    return _DIGIT_RUN.sub(REDACTED, text)


def redacted(record: Mapping[str, Any]) -> dict[str, Any]:
    """``record`` without its personal fields, with ``card_last4``; stray digit runs masked."""
    out: dict[str, Any] = {}
    for name, value in record.items():
        if name in PERSONAL_FIELDS:
            continue
        out[name] = scrub(value) if isinstance(value, str) else value
    out["card_last4"] = card_last4(record.get(CARD_FIELD))
    return out
