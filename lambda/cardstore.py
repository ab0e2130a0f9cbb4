"""Where the processor keeps each card's history between records: in memory or in DynamoDB.

One invocation of the processor loads the histories of the cards it sees, scores its records in
event-time order with ``cardhistory.features`` and ``cardhistory.remember``, and saves once:

    store = from_env()                       # once per container
    histories = store.load(card_tokens)      # token -> history; cards never seen are absent
    ...                                      # features(), remember(), events[token].append((tx, t))
    store.save(histories, events)            # events: token -> [(landing record, event time)]

* :class:`MemoryCardStore` where one process sees every record (the embedded stack, the handler
  imported alone): a dict bounded to ``max_cards`` cards, least recently used out first.
* ``dynamostore.DynamoCardStore`` on AWS, where concurrent invocations share one table: reads in
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

Standard library only; ``from_env`` imports ``dynamostore`` (and with it boto3, in every Lambda
Python runtime) only when a table is configured.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cardhistory import remember

# On AWS: the DynamoDB table of card histories (infra/template.yaml). Unset: histories in memory.
TABLE_ENV = "TXVIZ_CARD_HISTORY_TABLE"
# A card history takes ~1-2 KB in memory (a few transactions in the day window, sums per
# category); 100,000 cards stay under ~200 MB. Sparkov's generated data has ~1,000 cards.
DEFAULT_MAX_CARDS = 100_000

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


_stores: dict[str, Any] = {}
_stores_lock = threading.Lock()


def from_env() -> Any:
    """The process-wide store: DynamoDB when TXVIZ_CARD_HISTORY_TABLE names a table (on AWS),
    else memory (the embedded stack, the handler imported alone)."""
    table = os.environ.get(TABLE_ENV, "").strip()
    with _stores_lock:
        store = _stores.get(table)
        if store is None:
            if table:
                from dynamostore import DynamoCardStore  # noqa: PLC0415 - only on AWS

                store = DynamoCardStore(table)
            else:
                store = MemoryCardStore()
            _stores[table] = store
        return store
