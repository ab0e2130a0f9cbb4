"""Kinesis Firehose transformation Lambda: validate, normalise, protect and score card transactions.

Standard library only; deployed as one zip of this folder's modules (``handler.handler``).
``handler`` reads the card-token key, hands the records to ``records.process_records`` (which
the embedded stack calls directly to get each record's reason) and logs every outcome.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from records import process_records
from response import DROPPED, OK, PROCESSING_FAILED

logger = logging.getLogger("txviz.processor")

CARD_TOKEN_KEY_ENV = "TXVIZ_CARD_TOKEN_KEY"
# A short key lets anyone who guesses it brute-force card numbers from tokens (the BIN and last
# four leave only ~10^6-10^9 candidates), so a weak key is refused like a missing one.
MIN_CARD_TOKEN_KEY_CHARS = 16


class ConfigurationError(RuntimeError):
    """The Lambda is misconfigured (e.g. no card-token key); every record would be wrong."""


def card_token_key() -> bytes:
    """The HMAC key for card tokens from TXVIZ_CARD_TOKEN_KEY; raises ConfigurationError."""
    key = os.environ.get(CARD_TOKEN_KEY_ENV, "")
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
    invocation_id = invocation if isinstance(invocation, str) else None
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
                        "invocationId": invocation_id,
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
                "invocationId": invocation_id,
                "records": len(results),
                "ok": counts[OK],
                "dropped": counts[DROPPED],
                "failed": counts[PROCESSING_FAILED],
                "unreturnable": unreturnable,
            }
        )
    )
    return {"records": response}
