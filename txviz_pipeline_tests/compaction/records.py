"""Landing records for tests: the processor Lambda's output shape, with deterministic values."""

from __future__ import annotations

import base64
import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from txviz_pipeline.schema import CATEGORIES, LANDING_FIELDS
from txviz_pipeline_tests.processor.builders import CARDHOLDER

# The models that scored the varied records, with the flag threshold each was published with:
# the older half of the records by the first, the newer half by the second.
MODEL_THRESHOLDS = {"fraud-20261120": 0.2, "fraud-20261127": 0.15}
MODEL_VERSION = "fraud-20261127"
FLAGGED_REASONS = ["3 purchases in the last hour", "8× this card's usual shopping_net amount"]


def landing_record(i: int, **overrides: Any) -> dict[str, Any]:
    """The i-th test record: minute i of 2019-01-01, amount i + 0.37, every 7th one fraud and
    flagged by the model (with a score far below 0.5, as the model's thresholds are)."""
    is_fraud = int(i % 7 == 3)
    record = {
        "trans_num": f"{i:032x}",
        "row_id": i,
        "event_time": f"2019-01-01T{(i // 60) % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z",
        "unix_time": 1325376000 + i * 60,
        "category": CATEGORIES[i % len(CATEGORIES)],
        "amount": round(i + 0.37, 2),
        "merchant": f"fraud_Merchant {i % 5}",
        "merch_lat": 36.011293,
        "merch_long": -82.048315,
        "card_last4": f"{i % 10000:04d}",
        "card_token": f"{i:032x}"[::-1],
        "gender": "F" if i % 2 else "M",
        **CARDHOLDER,
        "age": 30 + i % 40,
        "age_band": "25-34",
        "hour": (i // 60) % 24,
        "distance_km": 78.6,
        "is_fraud": is_fraud,
        "fraud_score": 0.31 if is_fraud else 0.04,
        "fraud_reasons": FLAGGED_REASONS if is_fraud else [],
        "fraud_flagged": is_fraud,
        "model_version": MODEL_VERSION,
        "processed_at": "2026-11-27T09:00:01Z",
        "replay_id": "replay-1",
    }
    record.update(overrides)
    assert record.keys() == LANDING_FIELDS.keys()
    return record


def ndjson(records: list[dict[str, Any]]) -> bytes:
    """Records framed like Firehose delivers them: one object per line, each ending in \\n."""
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def varied_records(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """n records with Sparkov-like spread: lognormal amounts, night-heavy fraud, five age bands;
    each flagged against the threshold of the model that scored it (MODEL_THRESHOLDS)."""
    rng = random.Random(seed)
    bands = ["18-24", "25-34", "35-49", "50-64", "65+"]
    records = []
    start, seconds = datetime(2019, 1, 1, tzinfo=UTC), 0.0
    for i in range(n):
        # Arrivals follow a slow wave, so per-minute volume rises and falls like a real day.
        seconds += rng.expovariate(1.0 + 0.7 * math.sin(seconds / 900))
        event_time = start + timedelta(seconds=int(seconds))
        card = rng.randrange(1, 900) * 7919
        hour = rng.choice(range(24))
        night = hour >= 22 or hour < 4
        is_fraud = int(rng.random() < (0.08 if night else 0.006))
        category = rng.choice(CATEGORIES)
        amount = round(rng.lognormvariate(3.6, 1.0) * (8 if is_fraud else 1), 2)
        raw = rng.betavariate(8, 3) if is_fraud else rng.betavariate(1.2, 9)
        # Probabilities like the model's: a flagged score is far below 0.5.
        score = round(min(0.99, raw) * 0.3, 3)
        model = list(MODEL_THRESHOLDS)[0 if i < n // 2 else 1]
        flagged = score >= MODEL_THRESHOLDS[model]
        reasons = [
            r
            for r, on in (
                (f"purchase at {hour:02d}:00", night),
                ("amount over $500", amount >= 500),
            )
            if on
        ] or ["unusual amount for this card"]
        records.append(
            landing_record(
                i,
                event_time=event_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
                category=category,
                amount=amount,
                merchant=f"fraud_{rng.choice(MERCHANTS)}",
                hour=hour,
                age_band=rng.choice(bands),
                is_fraud=is_fraud,
                fraud_score=score,
                fraud_reasons=reasons if flagged else [],
                fraud_flagged=int(flagged),
                model_version=model,
                card_last4=f"{card % 10000:04d}",
                card_token=f"{card:032x}",
            )
        )
    return records


MERCHANTS = [
    "Rippin, Kub and Mann",
    "Heller, Gutmann and Zieme",
    "Lind-Buckridge",
    "Kutch, Hermiston and Farrell",
    "Keeling-Crist",
    "Stroman, Hudson and Erdman",
    "Rowe-Vandervort",
    "Corwin-Collins",
    "Herzog Ltd",
    "Schoen, Kuphal and Nitzsche",
    "Rutherford-Mertz",
    "Kerluke-Abshire",
]


def processing_failed_line(row_id: int, replay_id: str, reason: str) -> bytes:
    """One record the processor refused, in AWS's error-record format under the error prefix."""
    raw = orjson.dumps({"row_id": row_id, "amt": -1, "replay_id": replay_id})
    return orjson.dumps(
        {
            "attemptsMade": 1,
            "errorCode": "Lambda.ProcessingFailedStatus",
            "errorMessage": reason,
            "rawData": base64.b64encode(raw).decode(),
        }
    )


def quarantine_line(row_id: int, replay_id: str, reason: str) -> bytes:
    """One record the processor refused, as its redacted quarantine line under quarantine/."""
    return orjson.dumps(
        {
            "reason": reason,
            "row_id": row_id,
            "trans_num": f"{row_id:032x}",
            "replay_id": replay_id,
            "card_last4": "2095",
            "card_token": "3f256ab00cc842f8eb71c66f45549606",
            "amt": -1,
            "quarantined_at": "2026-11-27T09:00:01.000Z",
        }
    )
