"""Score a batch of landing records with the fraud model and each card's history.

Per invocation: one read of the batch's card histories, then each record in event-time order
gets its features from its card's history before it (cardhistory.features), its score and flag
from the model, and joins the history (cardhistory.remember); one write of the histories at the
end. A flagged record gets up to three reasons, from the model's own per-feature contributions,
in words an analyst can read ("3 earlier purchases in the last hour").
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import cardhistory
import cardstore
import fraudmodel
from cardhistory import NO_HISTORY, event_seconds, features, remember
from treemodel import TreeModel

MAX_REASONS = 3
_INDEX = {name: i for i, name in enumerate(cardhistory.FEATURES)}


def score_batch(landings: list[dict[str, Any]], model: TreeModel, store: Any) -> None:
    """Fill fraud_score, fraud_flagged, fraud_reasons and model_version of every landing record
    (in place), and remember the records in their cards' histories."""
    if not landings:
        return
    times = [event_seconds(rec["event_time"]) for rec in landings]
    order = sorted(range(len(landings)), key=lambda i: (times[i], landings[i]["trans_num"]))
    histories = store.load({rec["card_token"] for rec in landings})
    added: dict[str, list[tuple[dict[str, Any], int]]] = defaultdict(list)
    threshold, version, predict = model.threshold, model.version, model.predict
    for i in order:
        rec, t = landings[i], times[i]
        card = rec["card_token"]
        known = histories.get(card)
        row = features(known, rec, t)
        histories[card] = remember(known, rec, t)
        added[card].append((rec, t))
        score = predict(row)
        flagged = score >= threshold
        rec["fraud_score"] = round(score, 6)
        rec["fraud_flagged"] = int(flagged)
        rec["fraud_reasons"] = reasons(model, row, rec) if flagged else []
        rec["model_version"] = version
    store.save(histories, added)


def reasons(model: TreeModel, row: list[float], rec: dict[str, Any]) -> list[str]:
    """The features that raised this record's score most, as phrases, strongest first."""
    _, contributions = model.contributions(row)
    ranked = sorted(
        (c, name) for c, name in zip(contributions, model.features, strict=True) if c > 0
    )
    return [_phrase(name, row, rec) for _, name in reversed(ranked[-MAX_REASONS:])]


def _phrase(name: str, row: list[float], rec: dict[str, Any]) -> str:  # noqa: PLR0911 - a table
    value = row[_INDEX[name]]
    category = rec["category"]
    if name == "amount":
        return f"${value:,.2f} {category} purchase"
    if name == "category":
        return f"{category} purchase"
    if name == "hour":
        return f"at {rec['event_time'][11:16]}" + (
            " (night)" if int(value) in cardhistory.NIGHT_HOURS else ""
        )
    if name == "home_km":
        return f"merchant {value:,.0f} km from the cardholder's home"
    if name in _WINDOWS:
        return _window_phrase(name, value)
    if name == "seconds_since_previous":
        return _since_previous(value)
    if name == "amount_vs_category_usual":
        if value == NO_HISTORY:
            return f"first {category} purchase on this card"
        return f"{value:,.1f}× this card's usual {category} amount"
    if name == "amount_vs_usual":
        if value == NO_HISTORY:
            return "first purchase on this card"
        return f"{value:,.1f}× this card's usual amount"
    if name == "km_from_usual_merchants":
        if value == NO_HISTORY:
            return "no earlier merchant to compare"
        return f"{value:,.0f} km from this card's usual merchants"
    if name == "night_share":
        if value == NO_HISTORY:
            return "no earlier use of this card"
        return f"{value:.0%} of this card's use is at night"
    if name == "card_tx_seen":
        return f"card seen {int(value)} times before"
    return name


# Counts and sums over the card's recent window: (words for some, words for none).
_WINDOWS = {
    "tx_last_hour": (
        "{n} earlier purchases in the last hour",
        "no earlier purchase in the last hour",
    ),
    "amount_last_hour": ("{usd} spent in the hour before", "nothing spent in the hour before"),
    "tx_last_day": (
        "{n} earlier purchases in the last 24 h",
        "no earlier purchase in the last 24 h",
    ),
    "amount_last_day": ("{usd} spent in the 24 h before", "nothing spent in the 24 h before"),
    "night_tx_last_day": (
        "{n} night-time purchases in the last 24 h",
        "no night-time purchase in the last 24 h",
    ),
}


def _window_phrase(name: str, value: float) -> str:
    some, none = _WINDOWS[name]
    return some.format(n=int(value), usd=f"${value:,.2f}") if value > 0 else none


def _since_previous(seconds: float) -> str:
    if seconds == NO_HISTORY:
        return "first purchase on this card"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min after the previous purchase"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h after the previous purchase"
    return f"first purchase in {seconds / 86400:.0f} days"


_container: dict[str, Any] = {}


def current_model() -> TreeModel:
    """The container's model (fraudmodel.from_env, created at the first invocation)."""
    if "models" not in _container:
        _container["models"] = fraudmodel.from_env()
    return _container["models"].model()


def card_store() -> Any:
    """The container's card-history store (cardstore.from_env, created at the first call)."""
    if "store" not in _container:
        _container["store"] = cardstore.from_env()
    return _container["store"]
