"""A generator for the Kaggle "Credit Card Transactions Fraud Detection" (Sparkov) CSV format.

The real fraudTrain.csv cannot be downloaded here, so this writes files with the same columns,
formatting and statistical shape: a fixed population of 983 cardholders who all transact
throughout (:mod:`.population`), ~2,400 transactions a day with fraudTrain.csv's daily,
weekly and yearly rhythm (:mod:`.timeline`), so N rows cover about N / 2,400 days and even the
first few thousand rows hold hundreds of cards; the 14 Sparkov categories with their real
shares and amount ranges (:mod:`.tables`); and Sparkov's fraud pattern (:mod:`.fraud`).

Rows are produced in time order, one block of days at a time: every value is drawn with numpy
and every line is assembled with pyarrow compute kernels (:mod:`.text`), so memory stays flat
and the same seed and row count always give a byte-identical file.
"""

from __future__ import annotations

import calendar
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.generator import tables
from txviz_pipeline.generator.fraud import Fraud, make_fraud
from txviz_pipeline.generator.population import CARDS, Cards, Merchants, make_cards, make_merchants
from txviz_pipeline.generator.text import amount_strings, clock_strings, decimal_strings
from txviz_pipeline.generator.timeline import Timeline, seconds_into_day, timeline, unix_lag_seconds
from txviz_pipeline.schema import CATEGORIES, SOURCE_COLUMNS

log = logging.getLogger(__name__)

DEFAULT_START = datetime(2019, 1, 1)
BLOCK_ROWS = 65_536


@dataclass(frozen=True)
class GenerationSummary:
    rows: int
    fraud_rows: int
    cards: int  # distinct cards in the file (of the CARDS cardholders)
    merchants: int  # distinct merchants in the file (of the MERCHANTS merchants)
    first_time: str | None  # trans_date_trans_time of the first and last rows
    last_time: str | None
    path: Path


@dataclass
class _Seen:
    """What the written rows touched, for the summary."""

    cards: np.ndarray  # bool per card
    merchants: np.ndarray  # bool per merchant
    first_time: str | None = None
    last_time: str | None = None


def generate_csv(
    path: str | os.PathLike[str],
    rows: int,
    seed: int = 42,
    start: datetime = DEFAULT_START,
) -> GenerationSummary:
    """Write ``rows`` Sparkov-format transactions to ``path`` (deterministic for a seed)."""
    if rows < 0:
        raise ValueError(f"rows must be >= 0, got {rows}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder: give the CSV file to write, e.g. {path / 'tx.csv'}")
    rng = np.random.default_rng(seed)
    first_day = start.date()
    days = timeline(first_day, rows)
    cards = make_cards(rng, CARDS, first_day)
    merchants = make_merchants(rng)
    fraud = make_fraud(rng, rows, CARDS, days)
    legit = rows - len(fraud.t)
    legit_per_day = (
        rng.multinomial(legit, days.expected / days.expected.sum())
        if legit
        else np.zeros(days.days, dtype=np.int64)
    )
    seen = _Seen(np.zeros(CARDS, dtype=bool), np.zeros(len(merchants.field), dtype=bool))

    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(tmp, "wb") as out:
            out.write((",".join(SOURCE_COLUMNS) + "\n").encode())
            blocks = _blocks(rng, legit_per_day, days, first_day, cards, merchants, fraud, seen)
            for block in blocks:
                out.write(block)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a half-written CSV is never left behind
        raise
    summary = GenerationSummary(
        rows=rows,
        fraud_rows=len(fraud.t),
        cards=int(seen.cards.sum()),
        merchants=int(seen.merchants.sum()),
        first_time=seen.first_time,
        last_time=seen.last_time,
        path=path,
    )
    log.info("generated %s", summary)
    return summary


def _amount_cents(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Legitimate amounts in cents, by each category's model (tables.Category)."""
    kinds = tables.categories()
    normal = np.array([c.amount == "normal" for c in kinds])[category]
    a = np.array([c.amount_a for c in kinds])[category]
    b = np.array([c.amount_b for c in kinds])[category]
    small_share = np.array([c.small_share for c in kinds])[category]
    small_median = np.array([c.small_median or 1.0 for c in kinds])[category]
    z = rng.standard_normal(len(category))
    small = rng.random(len(category)) < small_share
    lognormal = np.where(small, small_median * np.exp(0.8 * z), a * np.exp(b * z))
    amount = np.where(normal, a + b * z, lognormal)
    return np.round(np.clip(amount, 1.0, 28_000.0) * 100).astype(np.int64)


def _blocks(
    rng: np.random.Generator,
    legit_per_day: np.ndarray,
    days_ahead: Timeline,
    first_day: date,
    cards: Cards,
    merchants: Merchants,
    fraud: Fraud,
    seen: _Seen,
) -> Iterator[memoryview]:
    """CSV text for consecutive groups of days, each sorted by time."""
    clock = clock_strings()
    cc_num = pa.array(cards.cc_num, pa.string())
    profile = pa.array(cards.profile, pa.string())
    merchant_field = pa.array(merchants.field, pa.string())
    fraud_flag = pa.array(["0\n", "1\n"], pa.string())
    days = len(legit_per_day)
    day_text = pa.array([(first_day + timedelta(days=d)).isoformat() for d in range(days)])
    start_epoch = calendar.timegm(first_day.timetuple())
    unix_lag = np.array([unix_lag_seconds(first_day + timedelta(days=d)) for d in range(days)])

    row_id = 0
    day = 0
    while day < days:
        end = day + 1
        while end < days and legit_per_day[day:end].sum() < BLOCK_ROWS:
            end += 1
        per_day = legit_per_day[day:end]
        n_legit = int(per_day.sum())
        t = np.repeat(np.arange(day, end) * 86400, per_day)
        # Times of day follow the hourly profile; on the last day only up to the span's end.
        share = np.repeat(days_ahead.day_share[day:end], per_day)
        t += seconds_into_day(rng.random(n_legit) * share).astype(np.int64)
        card = np.searchsorted(cards.weight_cdf, rng.random(n_legit), side="right")
        card = np.minimum(card, len(cards.cc_num) - 1)
        category = (rng.random(n_legit)[:, None] > cards.category_cdf[card]).sum(axis=1)
        category = np.minimum(category, len(CATEGORIES) - 1)
        cents = _amount_cents(rng, category)
        is_fraud = np.zeros(n_legit, dtype=np.int64)

        lo, hi = np.searchsorted(fraud.t, [day * 86400, end * 86400])
        if hi > lo:
            t = np.concatenate([t, fraud.t[lo:hi]])
            card = np.concatenate([card, fraud.card[lo:hi]])
            category = np.concatenate([category, fraud.category[lo:hi]])
            cents = np.concatenate([cents, fraud.cents[lo:hi]])
            is_fraud = np.concatenate([is_fraud, np.ones(hi - lo, dtype=np.int64)])
        order = np.argsort(t, kind="stable")
        t, card, category, cents, is_fraud = (
            a[order] for a in (t, card, category, cents, is_fraud)
        )
        n = len(t)
        if n == 0:
            day = end
            continue
        merchant = merchants.first_of_category[category] + (
            rng.random(n) * merchants.count_of_category[category]
        ).astype(np.int64)
        # Sparkov puts the merchant uniformly within one degree of the cardholder's home.
        merch_lat = cards.lat_e6[card] + np.round(rng.uniform(-1, 1, n) * 1e6).astype(np.int64)
        merch_long = cards.long_e6[card] + np.round(rng.uniform(-1, 1, n) * 1e6).astype(np.int64)
        seen.cards[card] = True
        seen.merchants[merchant] = True
        trans_num = pa.StringArray.from_buffers(
            n,
            pa.py_buffer(np.arange(0, 32 * (n + 1), 32, dtype=np.int32).tobytes()),
            pa.py_buffer(rng.bytes(16 * n).hex().encode()),
        )
        day_of_row = t // 86400
        timestamp = pc.binary_join_element_wise(
            pc.take(day_text, pa.array(day_of_row)), pc.take(clock, pa.array(t % 86400)), " "
        )
        unix_time = start_epoch + t + unix_lag[day_of_row]
        if seen.first_time is None:
            seen.first_time = timestamp[0].as_py()
        seen.last_time = timestamp[n - 1].as_py()
        line = pc.binary_join_element_wise(
            pc.cast(pa.array(np.arange(row_id, row_id + n)), pa.string()),
            timestamp,
            pc.take(cc_num, pa.array(card)),
            pc.take(merchant_field, pa.array(merchant)),
            amount_strings(cents),
            pc.take(profile, pa.array(card)),
            trans_num,
            pc.cast(pa.array(unix_time), pa.string()),
            decimal_strings(merch_lat),
            decimal_strings(merch_long),
            pc.take(fraud_flag, pa.array(is_fraud)),
            ",",
        )
        row_id += n
        day = end
        offsets, data = line.buffers()[1:]
        bounds = np.frombuffer(offsets, dtype=np.int32, count=len(line) + 1, offset=line.offset * 4)
        yield memoryview(data)[bounds[0] : bounds[-1]]
