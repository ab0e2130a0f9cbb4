"""Card histories in DynamoDB, shared by the processor's concurrent invocations on AWS.

One item per card: ``card_token`` (S, the key), ``history`` (S, the history as compact JSON),
``version`` (N) and ``expires_at`` (N, the table's TTL). ``load`` reads in strongly consistent
BatchGetItem calls of 100 keys; ``save`` writes in TransactWriteItems calls of up to 100 Puts,
each conditioned on the version read, and re-applies this invocation's transactions onto a card
another invocation saved first (see cardstore.py for the consistency this gives).

boto3 and botocore (in every Lambda Python runtime) are imported when a store is made.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cardhistory import restored
from cardstore import CardHistories, Events, Saved, replay

logger = logging.getLogger("txviz.processor")

# The DynamoDB item: the key, the history as one JSON string, its version and an expiry time.
KEY = "card_token"
HISTORY = "history"
VERSION = "version"
EXPIRES_AT = "expires_at"
# A card unused this long disappears (DynamoDB's TTL deletes it within days after expires_at).
TTL_SECONDS = 400 * 24 * 3600
# DynamoDB's limits: 100 keys per BatchGetItem; 100 items and 4 MB per TransactWriteItems; 400 KB
# an item. cardhistory bounds a history to a few KB; a larger one is refused here, not by
# DynamoDB, so it cannot fail the 99 other cards of its transaction.
GET_BATCH = 100
WRITE_BATCH = 100
WRITE_BATCH_BYTES = 3_500_000
MAX_HISTORY_BYTES = 300_000
# How often a card is re-read and re-applied after another invocation saved it first, and how
# often keys DynamoDB left unprocessed (throttling) are asked for again.
MAX_WRITE_ROUNDS = 6
MAX_READ_ATTEMPTS = 6
BACKOFF_SECONDS = 0.025
MAX_BACKOFF_SECONDS = 1.0


class DynamoCardStore:
    """Card histories in a DynamoDB table shared by concurrent invocations (see the module doc).

    Item: ``card_token`` (S, the key), ``history`` (S, the history as compact JSON), ``version``
    (N, 1 at the first write, +1 at each), ``expires_at`` (N, epoch seconds, the table's TTL).
    """

    def __init__(
        self,
        table_name: str,
        client: Any = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        if client is None:
            import boto3  # noqa: PLC0415 - only on AWS; the embedded stack keeps cards in memory
            from botocore.config import Config  # noqa: PLC0415

            config = Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=5,
                read_timeout=10,
            )
            client = boto3.client("dynamodb", config=config)
        self.table_name = table_name
        self.client = client
        self._clock = clock
        self._sleep = sleep
        self._errors = (BotoCoreError, ClientError)

    # ------------------------------------------------------------------ reading
    def load(self, tokens: Iterable[str]) -> CardHistories:
        wanted = list(dict.fromkeys(tokens))
        found, unread = self._read(wanted)
        out = CardHistories()
        for token in wanted:
            if token in unread:
                continue
            history, version = found.get(token, (None, 0))
            out.versions[token] = version
            if history is not None:
                out[token] = history
        return out

    def _read(self, tokens: list[str]) -> tuple[dict[str, tuple[dict[str, Any], int]], set[str]]:
        """(token -> (history, version) of the cards the table has, tokens that could not be
        read). Strongly consistent: every committed save is seen."""
        found: dict[str, tuple[dict[str, Any], int]] = {}
        unread: set[str] = set()
        for start in range(0, len(tokens), GET_BATCH):
            keys = [{KEY: {"S": token}} for token in tokens[start : start + GET_BATCH]]
            for attempt in range(MAX_READ_ATTEMPTS):
                if attempt:
                    self._backoff(attempt)
                request = {
                    "Keys": keys,
                    "ConsistentRead": True,
                    "ProjectionExpression": "#k, #h, #v",
                    "ExpressionAttributeNames": {"#k": KEY, "#h": HISTORY, "#v": VERSION},
                }
                try:
                    response = self.client.batch_get_item(RequestItems={self.table_name: request})
                except self._errors as exc:
                    _log("card_history_not_read", len(keys), exc)
                    break
                for item in response.get("Responses", {}).get(self.table_name, []):
                    found[item[KEY]["S"]] = _parse(item)
                keys = response.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
                if not keys:
                    break
            else:
                _log("card_history_not_read", len(keys), "keys still unprocessed")
            unread.update(key[KEY]["S"] for key in keys)
        return found, unread

    # ------------------------------------------------------------------ writing
    def save(self, histories: Mapping[str, dict[str, Any]], events: Events) -> Saved:
        versions = histories.versions if isinstance(histories, CardHistories) else {}
        # token -> (history to write, version the item must still have; 0: must not exist yet)
        pending: dict[str, tuple[dict[str, Any], int]] = {}
        unknown = []
        for token, card_events in events.items():
            if not card_events:
                continue
            history, expected = histories.get(token), versions.get(token)
            if history is None or expected is None:
                unknown.append(token)
            else:
                pending[token] = (history, expected)
        written: set[str] = set()
        merged: set[str] = set()
        not_saved: set[str] = set()
        stale: dict[str, tuple[dict[str, Any], int] | None] = dict.fromkeys(unknown)
        for attempt in range(MAX_WRITE_ROUNDS):
            if stale:
                fresh, unread = self._merge(stale, events)
                pending.update(fresh)
                merged.update(fresh)
                not_saved.update(unread)
                stale = {}
            if not pending:
                break
            if attempt:
                self._backoff(attempt)
            stale, retry, failed = self._write(pending)
            written.update(set(pending) - set(stale) - set(retry) - set(failed))
            not_saved.update(failed)
            pending = {token: pending[token] for token in retry}
        given_up = set(pending) | set(stale)
        if given_up:
            not_saved.update(given_up)
            _log("card_history_not_saved", len(given_up), "still conflicting after every retry")
        return Saved(
            written=len(written - merged),
            merged=len(written & merged),
            not_saved=len(not_saved),
        )

    def _merge(
        self, stale: dict[str, tuple[dict[str, Any], int] | None], events: Events
    ) -> tuple[dict[str, tuple[dict[str, Any], int]], set[str]]:
        """Each card's events re-applied on its newest history: the item a cancellation
        returned, or (where None) the item read again. Also returns the cards not readable."""
        reread = [token for token, item in stale.items() if item is None]
        found, unread = self._read(reread) if reread else ({}, set())
        if unread:
            _log("card_history_not_saved", len(unread), "the newer history could not be read")
        merged = {}
        for token, item in stale.items():
            if token in unread:
                continue
            newest = item or found.get(token)
            history, version = newest if newest is not None else (None, 0)
            merged[token] = (replay(history, events[token]), version)
        return merged, unread

    def _write(
        self, pending: dict[str, tuple[dict[str, Any], int]]
    ) -> tuple[dict[str, tuple[dict[str, Any], int] | None], list[str], list[str]]:
        """One conditional Put per card, 100 per TransactWriteItems call. Returns the cards
        whose version had moved on (with the newer item when DynamoDB returned it), the cards
        to send again unchanged (cancelled with another card, throttled) and the failed ones."""
        collided: dict[str, tuple[dict[str, Any], int] | None] = {}
        retry: list[str] = []
        batches, failed = self._batches(pending)
        for batch in batches:
            try:
                self.client.transact_write_items(TransactItems=[put for _, put in batch])
            except self._errors as exc:
                response = getattr(exc, "response", {})
                reasons = response.get("CancellationReasons") or []
                if len(reasons) != len(batch):
                    if response.get("Error", {}).get("Code") == "TransactionCanceledException":
                        # A botocore that does not parse the reasons: read every card again.
                        collided.update((token, None) for token, _ in batch)
                    else:
                        failed.extend(token for token, _ in batch)
                        _log("card_history_not_saved", len(batch), exc)
                    continue
                for (token, _), reason in zip(batch, reasons, strict=True):
                    code = reason.get("Code") or "None"
                    if code == "ConditionalCheckFailed":
                        item = reason.get("Item")
                        collided[token] = _parse(item) if item and HISTORY in item else None
                    elif code == "TransactionConflict":
                        collided[token] = None
                    elif code in ("None", "ThrottlingError", "ProvisionedThroughputExceeded"):
                        retry.append(token)
                    else:
                        failed.append(token)
                        _log("card_history_not_saved", 1, f"{code}: {reason.get('Message')}")
        return collided, retry, failed

    def _batches(
        self, pending: dict[str, tuple[dict[str, Any], int]]
    ) -> tuple[list[list[tuple[str, dict[str, Any]]]], list[str]]:
        """The conditional Puts in TransactWriteItems-sized batches, and the cards too large."""
        expires = str(int(self._clock()) + TTL_SECONDS)
        batches: list[list[tuple[str, dict[str, Any]]]] = []
        too_large: list[str] = []
        size = 0
        for token, (history, expected) in pending.items():
            text = json.dumps(history, separators=(",", ":"))
            if len(text) > MAX_HISTORY_BYTES:
                too_large.append(token)
                _log("card_history_not_saved", 1, f"history of {len(text)} bytes is too large")
                continue
            if (
                not batches
                or len(batches[-1]) == WRITE_BATCH
                or size + len(text) > WRITE_BATCH_BYTES
            ):
                batches.append([])
                size = 0
            batches[-1].append((token, _put(self.table_name, token, text, expected, expires)))
            size += len(text)
        return batches, too_large

    def _backoff(self, attempt: int) -> None:
        """Full jitter: a random wait up to 25 ms x 2^attempt, at most 1 s."""
        cap = min(MAX_BACKOFF_SECONDS, BACKOFF_SECONDS * 2**attempt)
        self._sleep(random.uniform(0, cap))  # noqa: S311 - jitter, not security


def _put(table: str, token: str, text: str, expected: int, expires: str) -> dict[str, Any]:
    put: dict[str, Any] = {
        "TableName": table,
        "Item": {
            KEY: {"S": token},
            HISTORY: {"S": text},
            VERSION: {"N": str(expected + 1)},
            EXPIRES_AT: {"N": expires},
        },
        # A conflict returns the newer item, so merging needs no second read.
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    if expected:
        put["ConditionExpression"] = "#v = :v"
        put["ExpressionAttributeNames"] = {"#v": VERSION}
        put["ExpressionAttributeValues"] = {":v": {"N": str(expected)}}
    else:
        put["ConditionExpression"] = "attribute_not_exists(#k)"
        put["ExpressionAttributeNames"] = {"#k": KEY}
    return {"Put": put}


def _parse(item: dict[str, Any]) -> tuple[dict[str, Any], int]:
    return restored(json.loads(item[HISTORY]["S"])), int(item[VERSION]["N"])


def _log(event: str, cards: int, reason: object) -> None:
    logger.warning(json.dumps({"event": event, "cards": cards, "reason": str(reason)}))
