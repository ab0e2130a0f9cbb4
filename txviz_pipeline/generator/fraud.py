"""Sparkov's fraud pattern: one fraud day per affected card with 2-25 transactions, mostly at
night, amounts by category, ~0.58 % of rows at any row count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from txviz_pipeline.generator import tables
from txviz_pipeline.generator.timeline import Timeline
from txviz_pipeline.schema import CATEGORIES

FRAUD_RATE = 0.00579  # 7,506 of 1,296,675 rows in fraudTrain.csv
FRAUD_NIGHT_SHARE = 0.8
FRAUD_NIGHT_HOURS = (22, 23, 0, 1, 2, 3)
FRAUD_WINDOW_MEDIAN = 8.0  # transactions in one card's fraud day: 2..25, mean ~10
FRAUD_WINDOW_RANGE = (2, 25)


@dataclass(frozen=True)
class Fraud:
    t: np.ndarray  # seconds since the start day's midnight, sorted
    card: np.ndarray
    category: np.ndarray
    cents: np.ndarray


def make_fraud(rng: np.random.Generator, rows: int, n_cards: int, timeline: Timeline) -> Fraud:
    """One fraud day per affected card, with 2..25 transactions, until ~0.58 % of rows."""
    sizes = _window_sizes(rng, round(rows * FRAUD_RATE))
    windows = len(sizes)
    per_tx = np.repeat(np.arange(windows), sizes)
    n = len(per_tx)
    window_card = rng.choice(n_cards, size=windows, replace=windows > n_cards)
    # Whole days only, unless the span is shorter than a day: then the window is its first day
    # and the night hours still ahead of the span's end are the ones that can be drawn.
    window_day = rng.integers(0, max(1, timeline.days - 1), size=windows)
    day = window_day[per_tx]
    limit = timeline.limit_seconds(day)
    second = np.zeros(n, dtype=np.int64)
    todo = np.arange(n)
    while len(todo):
        second[todo] = _fraud_seconds(rng, len(todo))
        todo = todo[second[todo] >= limit[todo]]
    t = day * 86400 + second
    kinds = tables.categories()
    shares = np.array([c.fraud_rows for c in kinds], float)
    category = rng.choice(len(CATEGORIES), size=n, p=shares / shares.sum())
    bounds = np.array([(c.fraud_low, c.fraud_high) for c in kinds])
    amount = rng.uniform(bounds[category, 0], bounds[category, 1])
    order = np.argsort(t, kind="stable")
    return Fraud(
        t=t[order],
        card=window_card[per_tx][order],
        category=category[order],
        cents=np.round(amount * 100).astype(np.int64)[order],
    )


def _window_sizes(rng: np.random.Generator, target: int) -> list[int]:
    """Transactions per fraud day, 2..25 each, adding up to ``target``."""
    lo, hi = FRAUD_WINDOW_RANGE
    sizes: list[int] = []
    while target >= lo and sum(sizes) < target:
        sizes.append(int(np.clip(round(rng.lognormal(np.log(FRAUD_WINDOW_MEDIAN), 0.6)), lo, hi)))
    if sizes:
        # Drawing stopped at the first window that reached the target: shrink it to fit.
        remainder = target - sum(sizes[:-1])
        if remainder >= lo:
            sizes[-1] = remainder
        else:  # one transaction left over: it joins a window that has room
            sizes.pop()
            roomy = next((i for i, k in enumerate(sizes) if k < hi), None)
            if roomy is None:
                sizes[-1] -= 1
                sizes.append(lo)
            else:
                sizes[roomy] += 1
    return sizes


def _fraud_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds of day for fraud: 80 % between 22:00 and 04:00, the rest in the other hours."""
    night = rng.random(n) < FRAUD_NIGHT_SHARE
    day_hours = np.array([h for h in range(24) if h not in FRAUD_NIGHT_HOURS])
    hour = np.where(
        night,
        np.array(FRAUD_NIGHT_HOURS)[rng.integers(0, len(FRAUD_NIGHT_HOURS), n)],
        day_hours[rng.integers(0, len(day_hours), n)],
    )
    return hour * 3600 + rng.integers(0, 3600, n)
