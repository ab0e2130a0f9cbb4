"""Where the processor keeps each card's history between records: in memory or in DynamoDB.

One invocation of the processor loads the histories of the cards it sees, scores its records in
event-time order with ``cardhistory.features`` and ``cardhistory.remember``, and saves once:

    store = from_env()                       # once per container
    histories = store.load(card_tokens)      # token -> history; cards never seen are absent
    ...                                      # features(), remember(), events[token].append((tx, t))
    store.save(histories, events)            # events: token -> [(landing record, event time)]

* :class:`MemoryCardStore` where one process sees every record (the embedded stack, the handler
  imported alone): a dict bounded to ``max_cards`` cards, least recently used out first.
* :class:`DynamoCardStore` on AWS, where concurrent invocations share one table: reads in
  BatchGetItem calls of 100 keys, writes in TransactWriteItems calls of 100 conditional Puts.

Consistency (both stores): no transaction is lost and none is counted twice in the day window.
Each card carries a version; ``save`` writes a card only if its version is still the one
``load`` read. If another invocation saved the card in between, this invocation's own
transactions (``events``) are re-applied with ``cardhistory.remember`` on top of the newer
history (a repeat is ignored, so re-applying is safe) and the write is tried again, a bounded
number of times. Scoring is not repeated: a record scored while another invocation held newer
transactions of its card saw the history as of its load. Failures of the store never fail the
invocation: a card that cannot be read is scored as new and merged on save; a card that cannot be
written is logged (``card_history_not_saved``) and keeps its previous history.

Standard library only at import; boto3 (in every Lambda Python runtime) is imported only when a
DynamoCardStore is made.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cardhistory import remember, restored

logger = logging.getLogger("txviz.processor")

# On AWS: the DynamoDB table of card histories (infra/template.yaml). Unset: histories in memory.
TABLE_ENV = "TXVIZ_CARD_HISTORY_TABLE"
# A card history takes ~1-2 KB in memory (a few transactions in the day window, sums per
# category); 100,000 cards stay under ~200 MB. Sparkov's generated data has ~1,000 cards.
DEFAULT_MAX_CARDS = 100_000

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

Event = tuple[dict[str, Any], int]
Events = Mapping[str, Sequence[Event]]


class CardHistories(dict):
    """``load``'s answer: token -> history, and ``versions``: token -> the version read (0 for a
    card the store does not have). A card the store could not read has no version."""

    def __init__(self) -> None:
        super().__init__()
        self.versions: dict[str, int] = {}


@dataclass
class Saved:
    """What ``save`` did: cards written as the caller built them, cards written after
    re-applying the caller's events on a newer history, cards not written (logged)."""

    written: int = 0
    merged: int = 0
    not_saved: int = 0


def copy_history(history: dict[str, Any]) -> dict[str, Any]:
    """A copy of a ``cardhistory`` history that shares nothing mutable with it."""
    # cardhistory.remember replaces events, per-category sums and merchant sums instead of
    # changing them, so the copy may share them.
    out = dict(history)
    out["r"] = list(history["r"])
    out["c"] = dict(history["c"])
    return out


def replay(history: dict[str, Any] | None, events: Sequence[Event]) -> dict[str, Any]:
    """``history`` (not modified) with ``events`` remembered; repeats are ignored."""
    out = copy_history(history) if history is not None else None
    for tx, t in events:
        out = remember(out, tx, t)
    assert out is not None  # events is never empty here
    return out


class MemoryCardStore:
    """Card histories in this process, at most ``max_cards`` of them (least recently used out).

    Thread-safe: the embedded stack runs concurrent Firehose deliveries in threads. ``load``
    returns copies, and ``save`` takes ownership of the histories it stores (the caller must not
    change them afterwards).
    """

    def __init__(self, max_cards: int = DEFAULT_MAX_CARDS) -> None:
        if max_cards < 1:
            raise ValueError(f"max_cards must be at least 1, not {max_cards}")
        self.max_cards = max_cards
        # token -> (version, history); stored histories are never changed in place.
        self._cards: OrderedDict[str, tuple[int, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._cards)

    def load(self, tokens: Iterable[str]) -> CardHistories:
        found: list[tuple[str, dict[str, Any]]] = []
        out = CardHistories()
        with self._lock:
            for token in tokens:
                if token in out.versions:
                    continue
                entry = self._cards.get(token)
                if entry is None:
                    out.versions[token] = 0
                    continue
                self._cards.move_to_end(token)
                out.versions[token] = entry[0]
                found.append((token, entry[1]))
        for token, history in found:
            out[token] = copy_history(history)
        return out

    def save(self, histories: Mapping[str, dict[str, Any]], events: Events) -> Saved:
        saved = Saved()
        versions = histories.versions if isinstance(histories, CardHistories) else {}
        with self._lock:
            for token, card_events in events.items():
                if not card_events:
                    continue
                entry = self._cards.get(token)
                expected = versions.get(token)
                history = histories.get(token)
                current = entry[0] if entry else 0
                if history is not None and expected is not None and current in (expected, 0):
                    # Unchanged since load (or evicted meanwhile): the caller's history is it.
                    saved.written += 1
                else:
                    history = replay(entry[1] if entry else None, card_events)
                    saved.merged += 1
                self._cards[token] = (max(current, expected or 0) + 1, history)
                self._cards.move_to_end(token)
            while len(self._cards) > self.max_cards:
                self._cards.popitem(last=False)
        return saved


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


_stores: dict[str, MemoryCardStore | DynamoCardStore] = {}
_stores_lock = threading.Lock()


def from_env() -> MemoryCardStore | DynamoCardStore:
    """The process-wide store: DynamoDB when TXVIZ_CARD_HISTORY_TABLE names a table (on AWS),
    else memory (the embedded stack, the handler imported alone)."""
    table = os.environ.get(TABLE_ENV, "").strip()
    with _stores_lock:
        store = _stores.get(table)
        if store is None:
            store = DynamoCardStore(table) if table else MemoryCardStore()
            _stores[table] = store
        return store
