"""Firehose input records to results: a landing line per transaction, a quarantine line per refusal.

Input: Firehose Direct PUT records whose data is one NDJSON line of the replay (the keys of
``validate.NDJSON_FIELDS``). Output per record, in input order, always ``Ok`` unless it is a
duplicate: the landing line (the keys of ``txviz_pipeline.schema.LANDING_FIELDS``, in that
order) with partition key ``zone=landing``, or, for a record the processor refuses, its redacted
quarantine line (``quarantine.py``) with ``zone=quarantine``; ``Dropped`` for an exact byte
duplicate of an earlier record of the same invocation. Firehose writes every Ok record under
``!{partitionKeyFromLambda:zone}/``, so no record leaves as it arrived: the landing line drops
the card number, names, street and date of birth (a keyed card token, age and age band stand
in for them), and the quarantine line keeps no personal data.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any

import quarantine
from cardhistory import haversine_km
from response import (
    DROPPED,
    LANDING_KEYS,
    OK,
    QUARANTINE_KEYS,
    RESPONSE_BUDGET_BYTES,
    Result,
    fit_response,
)
from scoring import card_store, current_model, score_batch
from treemodel import TreeModel
from validate import RecordError, decode, parse_line, validate

# 32 hex chars = 128 bits: collisions need ~2^64 cards, and half the width keeps landing lines
# and dashboard tables small. Still keyed, so a token never reveals the card without the key.
CARD_TOKEN_HEX_CHARS = 32
AGE_BANDS: tuple[tuple[int, str], ...] = (
    (25, "<25"),
    (35, "25-34"),
    (45, "35-44"),
    (55, "45-54"),
    (65, "55-64"),
)
OLDEST_AGE_BAND = "65+"
# ensure_ascii=False keeps non-ASCII text as compact as it arrived; compact separators keep the
# landing line close to the input line's size, which bounds the response size. One encoder for
# every record: json.dumps with arguments builds a new one per call.
_LANDING_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# The reason a valid record gets when it does not fit the response (see response.fit_response).
RESPONSE_LIMIT_REASON = (
    "response_limit: the batch's output exceeds Lambda's 6 MB response; "
    "the record was valid, re-send its row"
)


def process_records(
    records: list[Any],
    key: bytes,
    now: datetime | None = None,
    response_budget: int = RESPONSE_BUDGET_BYTES,
    model: TreeModel | None = None,
    store: Any = None,
) -> list[Result]:
    """Transform Firehose input records; one Result per entry, in order, never raising.

    An entry without a usable recordId (not a non-empty string) gets ``record_id=None``: the
    handler cannot return it to Firehose, but callers can still route it with its reason.
    The valid records are scored together (scoring.score_batch) by ``model`` with the card
    histories in ``store`` (default: the container's, see scoring.current_model/card_store).
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    processed_at = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    # Event times are naive UTC; compare them with a naive UTC clock read once per batch.
    now = now.replace(tzinfo=None)
    # Byte-identical lines share one fate: the first is transformed, the rest are Dropped
    # (row_id makes distinct source rows distinct, so this only removes true repeats).
    first_index: dict[bytes, int] = {}
    results: list[Result] = []
    raws: list[Any] = []
    twins: list[int | None] = []
    valid: list[int] = []  # indexes of results whose landing record awaits its score
    for entry in records:
        record_id = _record_id(entry)
        raw = entry.get("data") if isinstance(entry, dict) else None
        line: bytes | None = None
        obj: dict[str, Any] | None = None
        twin: int | None = None
        try:
            if record_id is None:
                raise RecordError(
                    "missing_record_id", "input record has no non-empty string 'recordId'"
                )
            line = decode(raw)
            twin = first_index.get(line)
            if twin is not None:
                result = _twin_result(record_id, raw, results[twin])
            else:
                obj = parse_line(line)
                landing = transform(obj, key, now, processed_at)
                result = Result(record_id, OK, "", None, LANDING_KEYS, landing)
                valid.append(len(results))
        except RecordError as err:
            result = _quarantined(record_id, str(err), raw, line, obj, key, processed_at, err.field)
        except Exception as err:  # noqa: BLE001 - one bad record must never fail the batch
            reason = f"internal_error: {type(err).__name__}"
            result = _quarantined(record_id, reason, raw, line, obj, key, processed_at)
        if line is not None and twin is None:
            first_index[line] = len(results)
        results.append(result)
        raws.append(raw)
        twins.append(twin)
    model = current_model() if model is None else model
    store = card_store() if store is None else store  # an empty store is falsy
    score_batch([results[i].kept for i in valid], model, store)
    for i in valid:
        results[i] = _encoded(results[i], records[i].get("data"), key, processed_at)
    shorten = partial(_shortened, quarantined_at=processed_at)
    return fit_response(results, _FailedData(raws), twins, response_budget, shorten)


def _encoded(res: Result, raw: Any, key: bytes, processed_at: str) -> Result:
    """A scored landing record's Ok result, or its quarantine line if it cannot be encoded."""
    try:
        data = base64.b64encode(encode_landing(res.kept)).decode("ascii")
    except RecordError as err:
        return _quarantined(res.record_id, str(err), raw, None, None, key, processed_at, err.field)
    return Result(res.record_id, OK, data, None, LANDING_KEYS, res.kept)


def _record_id(entry: Any) -> str | None:
    if isinstance(entry, dict):
        rid = entry.get("recordId")
        if isinstance(rid, str) and rid:
            return rid
    return None


class _FailedData(Sequence[str]):
    """Each record's data for a ProcessingFailed entry, worked out only if one is needed (a
    response over budget); checking every record's base64 up front cost 2 % of the processor."""

    def __init__(self, raws: list[Any]) -> None:
        self._raws = raws

    def __len__(self) -> int:
        return len(self._raws)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]
        return _failed_data(self._raws[i])


def _failed_data(raw: Any) -> str:
    """Data for a ProcessingFailed entry: the record's own base64, or its text as base64."""
    if not isinstance(raw, str):
        return ""
    try:
        base64.b64decode(raw, validate=True)
        return raw
    except (binascii.Error, ValueError):
        # Firehose always sends base64; other callers still get a response Firehose can read.
        return base64.b64encode(raw.encode("utf-8", "surrogatepass")).decode("ascii")


def _twin_result(record_id: str, raw: Any, twin: Result) -> Result:
    reason = (
        f"duplicate: byte-identical to earlier record {twin.record_id!r} of this batch, "
        "which is delivered Ok"
    )
    return Result(record_id, DROPPED, raw if isinstance(raw, str) else "", reason)


def _quarantined(
    record_id: str | None,
    reason: str,
    raw: Any,
    line: bytes | None,
    obj: dict[str, Any] | None,
    key: bytes,
    quarantined_at: str,
    refused_field: str | None = None,
) -> Result:
    """The Ok result that routes a refused record's redacted quarantine line to quarantine/."""
    kept: dict[str, Any] | None = None
    if obj is not None:
        token = partial(card_token, key)
        try:
            kept = quarantine.refused_record(obj, reason, token, quarantined_at, refused_field)
        except Exception:  # noqa: BLE001 - fall back to the reason and size alone
            kept = None
    if kept is None:
        kept = quarantine.unreadable_record(
            reason, _bytes_of(raw, line), _size_of(raw, line), quarantined_at
        )
    data = base64.b64encode(quarantine.encode(kept)).decode("ascii")
    return Result(record_id, OK, data, reason, QUARANTINE_KEYS, kept)


def _bytes_of(raw: Any, line: bytes | None) -> bytes | None:
    """The record's bytes for reading its row_id hints: decoded, or decoded despite its size."""
    if line is not None:
        return line
    if isinstance(raw, str):
        try:
            return base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _size_of(raw: Any, line: bytes | None) -> int:
    if line is not None:
        return len(line)
    if isinstance(raw, str):
        return len(raw) * 3 // 4
    return 0


def _shortened(res: Result, quarantined_at: str) -> Result:
    """The short quarantine line of an Ok result that does not fit the response."""
    kept = res.kept or {}
    reason = RESPONSE_LIMIT_REASON if res.zone == "landing" else (res.reason or "")[:80]
    short = quarantine.minimal_record(kept, reason, quarantined_at)
    data = base64.b64encode(quarantine.encode(short)).decode("ascii")
    return Result(res.record_id, OK, data, reason, QUARANTINE_KEYS, short)


def transform(obj: dict[str, Any], key: bytes, now: datetime, processed_at: str) -> dict:
    """A parsed NDJSON record to its landing record; ``now`` is naive UTC."""
    return normalise(validate(obj, now), key, processed_at)


def encode_landing(landing: dict[str, Any]) -> bytes:
    """The landing line (compact JSON and a newline); RecordError for text UTF-8 cannot carry."""
    text = _LANDING_ENCODER.encode(landing)
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # JSON escapes can smuggle lone surrogates ("\ud800") that no UTF-8 reader accepts.
        raise RecordError("bad_value", "text contains an unpaired UTF-16 surrogate") from None


def normalise(fields: dict[str, Any], key: bytes, processed_at: str) -> dict[str, Any]:
    """The landing record (schema.LANDING_FIELDS, in order) from validated fields."""
    event_dt: datetime = fields["event_dt"]
    cc_num: str = fields["cc_num"]
    amount = round(fields["amount"], 2)
    hour = event_dt.hour
    age = fields["age"]
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
        # Set by scoring.score_batch once the whole batch is valid and read in event-time order.
        "fraud_score": 0.0,
        "fraud_reasons": [],
        "fraud_flagged": 0,
        "model_version": "",
        "processed_at": processed_at,
        "replay_id": fields["replay_id"],
    }


def card_token(key: bytes, cc_num: str) -> str:
    """Keyed, irreversible card identifier: HMAC-SHA256(key, digits), first 32 hex chars."""
    # hmac.digest is the one-shot form of hmac.new(...).digest(): the same bytes, no object.
    return hmac.digest(key, cc_num.encode("ascii"), "sha256").hex()[:CARD_TOKEN_HEX_CHARS]


def age_band(age: int) -> str:
    """The reporting band for an age: <25, 25-34, 35-44, 45-54, 55-64 or 65+."""
    for upper, band in AGE_BANDS:
        if age < upper:
            return band
    return OLDEST_AGE_BAND
