"""Kinesis Firehose transformation Lambda: validate, normalise, protect and score card transactions.

Standard library only (boto3, present in every Lambda Python runtime, is imported only to read
the key from Secrets Manager); deployed as one zip of this folder's modules
(``handler.handler``). ``handler`` reads the card-token key, hands the records to
``records.process_records`` (which the embedded stack calls directly to get each record's
reason) and logs every outcome.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from records import process_records
from response import DROPPED, LANDING_ZONE, PROCESSING_FAILED, QUARANTINE_ZONE

logger = logging.getLogger("txviz.processor")

# On AWS: the ARN of the Secrets Manager secret holding the key (infra/template.yaml creates
# it). The embedded stack and tests set the key itself in TXVIZ_CARD_TOKEN_KEY instead.
CARD_TOKEN_SECRET_ARN_ENV = "TXVIZ_CARD_TOKEN_SECRET_ARN"
CARD_TOKEN_KEY_ENV = "TXVIZ_CARD_TOKEN_KEY"
# A short key lets anyone who guesses it brute-force card numbers from tokens (the BIN and last
# four leave only ~10^6-10^9 candidates), so a weak key is refused like a missing one.
MIN_CARD_TOKEN_KEY_CHARS = 16

# The secret's key, read once per container (at its first invocation) and kept: one
# GetSecretValue per cold start, none per batch.
_secret_cache: dict[str, bytes] = {}
_secret_lock = threading.Lock()


class ConfigurationError(RuntimeError):
    """The Lambda is misconfigured (e.g. no card-token key); every record would be wrong."""


def card_token_key() -> bytes:
    """The HMAC key for card tokens: from Secrets Manager when TXVIZ_CARD_TOKEN_SECRET_ARN is
    set, else from TXVIZ_CARD_TOKEN_KEY; raises ConfigurationError when missing or short."""
    arn = os.environ.get(CARD_TOKEN_SECRET_ARN_ENV, "")
    if arn:
        with _secret_lock:
            if arn not in _secret_cache:
                _secret_cache[arn] = _checked(_read_secret(arn), f"secret {arn}")
            return _secret_cache[arn]
    key = os.environ.get(CARD_TOKEN_KEY_ENV, "")
    if not key:
        raise ConfigurationError(
            f"neither {CARD_TOKEN_SECRET_ARN_ENV} nor {CARD_TOKEN_KEY_ENV} is set: card numbers "
            "cannot be tokenised. On AWS set the secret's ARN; locally, a key of at least 16 "
            "characters."
        )
    return _checked(key, CARD_TOKEN_KEY_ENV)


def _checked(key: str, source: str) -> bytes:
    if len(key) < MIN_CARD_TOKEN_KEY_CHARS:
        raise ConfigurationError(
            f"{source} holds {len(key)} characters; at least {MIN_CARD_TOKEN_KEY_CHARS} are "
            "needed so tokens cannot be brute-forced."
        )
    return key.encode("utf-8")


def _read_secret(arn: str) -> str:
    """The secret's SecretString (botocore honours AWS_ENDPOINT_URL, as the tests use)."""
    import boto3  # noqa: PLC0415 - only on AWS; the embedded stack never needs it
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        response = boto3.client("secretsmanager").get_secret_value(SecretId=arn)
    except (BotoCoreError, ClientError) as exc:
        # The error names the secret and the failure, never a secret value.
        raise ConfigurationError(f"cannot read the card-token key from {arn}: {exc}") from None
    secret = response.get("SecretString")
    if not isinstance(secret, str):
        raise ConfigurationError(f"secret {arn} has no SecretString (binary secrets unsupported)")
    return secret


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
    counts = {LANDING_ZONE: 0, QUARANTINE_ZONE: 0, DROPPED: 0, PROCESSING_FAILED: 0}
    response = []
    unreturnable = 0
    for index, res in enumerate(results):
        counts[res.zone or res.result] += 1
        if res.reason is not None:
            logger.warning(
                json.dumps(
                    {
                        "event": "record_not_landed",
                        "invocationId": invocation_id,
                        "index": index,
                        "recordId": res.record_id,
                        "result": res.result,
                        "zone": res.zone,
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
                "landed": counts[LANDING_ZONE],
                "quarantined": counts[QUARANTINE_ZONE],
                "dropped": counts[DROPPED],
                "failed": counts[PROCESSING_FAILED],
                "unreturnable": unreturnable,
            }
        )
    )
    return {"records": response}
