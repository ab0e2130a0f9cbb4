"""Record schemas: the Sparkov source CSV, the NDJSON replayed into Firehose, and the landing
record the processor Lambda writes. The Lambda (standard library only, deployed alone) keeps its
own copy of the categories and field names; ``test_lambda_schema_agrees`` proves they match.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

# The Kaggle "Credit Card Transactions Fraud Detection" (Sparkov) CSV, in file order. The first
# column has an empty header in the real files (pandas' unnamed index).
SOURCE_INDEX_COLUMN = ""
SOURCE_COLUMNS: tuple[str, ...] = (
    SOURCE_INDEX_COLUMN,
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

# In NDJSON the unnamed index column is called "row_id"; every other name is the CSV's.
NDJSON_INDEX_FIELD = "row_id"
NDJSON_FIELDS: tuple[str, ...] = (NDJSON_INDEX_FIELD, *SOURCE_COLUMNS[1:])

# Column types as read from CSV. Strings stay strings: cc_num (12-19 digits, never a float),
# zip (leading zeros), timestamps (passed through unchanged).
SOURCE_TYPES: dict[str, str] = {
    SOURCE_INDEX_COLUMN: "int64",
    "trans_date_trans_time": "string",
    "cc_num": "string",
    "merchant": "string",
    "category": "string",
    "amt": "float64",
    "first": "string",
    "last": "string",
    "gender": "string",
    "street": "string",
    "city": "string",
    "state": "string",
    "zip": "string",
    "lat": "float64",
    "long": "float64",
    "city_pop": "int64",
    "job": "string",
    "dob": "string",
    "trans_num": "string",
    "unix_time": "int64",
    "merch_lat": "float64",
    "merch_long": "float64",
    "is_fraud": "int64",
}

SOURCE_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
SOURCE_DOB_FORMAT = "%Y-%m-%d"

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

# What the processor Lambda writes to the landing zone for an Ok record (one JSON object per
# line). No names, street or full card number: card_last4 + card_token (keyed hash) instead.
LANDING_FIELDS: dict[str, str] = {
    "trans_num": "string",
    "row_id": "int64",
    "event_time": "string",  # ISO-8601 UTC, e.g. 2019-01-01T00:00:18Z
    "unix_time": "int64",
    "category": "string",
    "amount": "float64",  # 2 decimals
    "merchant": "string",
    "merch_lat": "float64",
    "merch_long": "float64",
    "card_last4": "string",
    "card_token": "string",
    "gender": "string",
    "city": "string",
    "state": "string",
    "zip": "string",
    "lat": "float64",
    "long": "float64",
    "city_pop": "int64",
    "job": "string",
    "age": "int64",
    "age_band": "string",
    "hour": "int64",
    "distance_km": "float64",
    "is_fraud": "int64",  # the source's label
    "fraud_score": "float64",  # the scoring model's probability of fraud, 0..1
    "fraud_reasons": "list<string>",  # why, in words an analyst reads; empty when not flagged
    # 1 when fraud_score reached the flag threshold of the model that scored this record, so a
    # record keeps its verdict when a model with another threshold is published later.
    "fraud_flagged": "int64",
    "model_version": "string",  # the model that scored the record
    "processed_at": "string",
    # The replay that sent the record (null from other producers): reconciliation per replay.
    "replay_id": "string?",
}

# Landing fields that hold 0 or 1: the source's label and the scoring model's verdict.
FLAG_FIELDS = ("is_fraud", "fraud_flagged")

# Glue/Athena column types of the landing fields (infra/ and the embedded stack's Glue table).
GLUE_TYPES: dict[str, str] = {
    "string": "string",
    "string?": "string",  # every Glue column is nullable
    "int64": "bigint",
    "float64": "double",
    "list<string>": "array<string>",
}

# Added by the replay to each record it sends (see ingest/replay/send.py), passed through by the
# processor; the same pattern is enforced by both.
REPLAY_ID_FIELD = "replay_id"
# Replay ids also name checkpoint files and S3 keys.
REPLAY_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _conforms(value: object, kind: str) -> bool:
    if kind.endswith("?"):
        return value is None or _conforms(value, kind[:-1])
    # bool is a subclass of int in Python; a JSON true/false is never a valid number here.
    if kind == "string":
        return isinstance(value, str)
    if kind == "int64":
        return type(value) is int and _INT64_MIN <= value <= _INT64_MAX
    if kind == "float64":
        return type(value) in (int, float) and math.isfinite(value)
    if kind == "list<string>":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    raise ValueError(f"unknown landing field type {kind!r}")


def landing_record_problem(record: object) -> str | None:
    """Why ``record`` (a parsed JSON value) is not a landing record, or None if it is one."""
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__})"
    if record.keys() != LANDING_FIELDS.keys():
        missing = sorted(LANDING_FIELDS.keys() - record.keys())
        unexpected = sorted(record.keys() - LANDING_FIELDS.keys())
        return f"keys differ: missing {missing}, unexpected {unexpected}"
    for name, kind in LANDING_FIELDS.items():
        if not _conforms(record[name], kind):
            return f"{name}={record[name]!r:.60} is not {kind}"
    for name in FLAG_FIELDS:
        if record[name] not in (0, 1):
            return f"{name}={record[name]!r:.60} is not 0 or 1"
    return None


class SchemaError(ValueError):
    """A CSV whose header is not the Sparkov format. Raised before any row is processed.

    The message names an unexpected column only if it looks like a column name; the others
    are counted, never shown (a wrong file's first line may be a key or a card number).
    """

    def __init__(self, path: str, missing: list[str], unexpected: list[str]):
        self.path = path
        self.missing = missing
        self.unexpected = unexpected
        parts = [f"{path} is not in the Sparkov fraudTrain.csv format"]
        if unexpected:
            parts.append(f"unexpected columns: {_show_some(unexpected)}")
        if missing:
            shown = ", ".join(_show(c) for c in missing[:PREVIEW_ITEMS])
            more = len(missing) - PREVIEW_ITEMS
            parts.append(f"missing columns: {shown}" + (f" and {more} more" if more > 0 else ""))
        super().__init__("; ".join(parts))


PREVIEW_CHARS = 40  # of a value echoed from a file into a message
PREVIEW_ITEMS = 5  # of a list of such values
MAX_COLUMN_NAME_CHARS = 24
# What a column name looks like: a short identifier ("amt", "V1", "Unnamed: 0", "Amount ($)"),
# with few digits and few lower-to-upper case changes (a random token has many).
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ .:()$#%/-]*")
_CASE_CHANGE = re.compile(r"[a-z][A-Z]")


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` quoted and cut to ``limit`` characters: a file's content in a message is a hint,
    never a copy (a wrong file may be a key or a 5 MB line)."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def looks_like_column_name(text: str) -> bool:
    """Whether a header cell is short and identifier-like, so a message may show it: a key,
    a card number or a data row's value is not."""
    return (
        len(text) <= MAX_COLUMN_NAME_CHARS
        and _COLUMN_NAME.fullmatch(text) is not None
        and sum(c.isdigit() for c in text) <= 4
        and len(_CASE_CHANGE.findall(text)) <= 3
    )


def _show_some(columns: list[str]) -> str:
    names = [c for c in columns if looks_like_column_name(c)]
    others = len(columns) - len(names)
    shown = ", ".join(_show(c) for c in names[:PREVIEW_ITEMS])
    more = len(names) - PREVIEW_ITEMS
    if more > 0:
        shown += f" and {more:,} more"
    if others:
        hidden = f"{others:,} that {'is' if others == 1 else 'are'} not column names (not shown)"
        shown = f"{shown} and {hidden}" if names else hidden
    return shown


def _show(column: str) -> str:
    return preview(column) if column else "'' (the unnamed index)"


@dataclass(frozen=True)
class HeaderCheck:
    missing: list[str]
    unexpected: list[str]
    misordered: bool

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected


def check_header(header: list[str]) -> HeaderCheck:
    """Compare a CSV header with the Sparkov columns. ``Unnamed: 0`` counts as the index."""
    names = [SOURCE_INDEX_COLUMN if h.strip() in ("", "Unnamed: 0") else h.strip() for h in header]
    expected = list(SOURCE_COLUMNS)
    missing = [c for c in expected if c not in names]
    unexpected = [c for c in names if c not in expected]
    misordered = not missing and not unexpected and names != expected
    return HeaderCheck(missing=missing, unexpected=unexpected, misordered=misordered)
