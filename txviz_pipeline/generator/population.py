"""Who transacts where: fraudTrain.csv's 983 cardholders and 693 merchants, drawn once per file."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from txviz_pipeline.generator import tables
from txviz_pipeline.schema import CATEGORIES

CARDS = 983  # fraudTrain.csv's cardholders; each one transacts throughout its 1.5 years
MERCHANTS = 693  # as many as fraudTrain.csv names
# Sparkov gives each customer a daily transaction rate drawn between 1 and 6 (its profiles'
# avg_transactions_per_day), so the busiest cards transact ~6x as often as the quietest.
CARD_RATE_RANGE = (1.0, 6.0)


@dataclass(frozen=True)
class Cards:
    cc_num: list[str]
    # "first,last,gender,street,city,state,zip,lat,long,city_pop,job,dob" as CSV text
    profile: list[str]
    lat_e6: np.ndarray  # home latitude in millionths of a degree (exact integers)
    long_e6: np.ndarray
    weight_cdf: np.ndarray  # which card makes a purchase
    category_cdf: np.ndarray  # per card: which category (cards x categories)


@dataclass(frozen=True)
class Merchants:
    # "merchant,category" as CSV text, grouped by category
    field: list[str]
    first_of_category: np.ndarray
    count_of_category: np.ndarray


def make_cards(rng: np.random.Generator, n: int, first_day: date) -> Cards:
    names = tables.names()
    street_names = names.street
    cities = tables.cities()
    shapes = tables.card_shapes()
    shares = np.array([s.share for s in shapes])
    legit_share = _legit_category_shares()
    cc_nums: list[str] = []
    profiles: list[str] = []
    lat_e6 = np.empty(n, dtype=np.int64)
    long_e6 = np.empty(n, dtype=np.int64)
    prefs = np.empty((n, len(CATEGORIES)))
    seen: set[str] = set()
    for i in range(n):
        female = rng.random() < 0.55
        first = _pick(rng, names.female_first if female else names.male_first)
        last = _pick(rng, names.last)
        street = (
            f"{rng.integers(1, 99999)} {_pick(rng, street_names)} {_pick(rng, names.street_suffix)}"
        )
        if rng.random() < 0.3:
            street += f" {'Apt.' if rng.random() < 0.5 else 'Suite'} {rng.integers(1, 1000):03d}"
        home = cities[rng.integers(len(cities))]
        age_days = int(np.clip(rng.normal(46, 17), 18, 95) * 365.25)
        dob = first_day - timedelta(days=age_days)
        while True:
            shape = shapes[rng.choice(len(shapes), p=shares)]
            prefix = _pick(rng, shape.prefixes)
            body = prefix + "".join(map(str, rng.integers(0, 10, shape.length - len(prefix) - 1)))
            cc = _luhn_complete(body)
            if cc not in seen:
                break
        seen.add(cc)
        cc_nums.append(cc)
        profiles.append(
            csv_text(
                [
                    first,
                    last,
                    "F" if female else "M",
                    street,
                    home.city,
                    home.state,
                    int(home.zip),
                    repr(float(home.lat)),
                    repr(float(home.long)),
                    int(home.city_pop),
                    _pick(rng, names.jobs),
                    dob.strftime("%Y-%m-%d"),
                ]
            )
        )
        lat_e6[i] = round(float(home.lat) * 1e6)
        long_e6[i] = round(float(home.long) * 1e6)
        prefs[i] = legit_share * rng.lognormal(0.0, 0.35, len(CATEGORIES))
    weights = rng.uniform(*CARD_RATE_RANGE, n)
    return Cards(
        cc_num=cc_nums,
        profile=profiles,
        lat_e6=lat_e6,
        long_e6=long_e6,
        weight_cdf=np.cumsum(weights) / weights.sum(),
        category_cdf=np.cumsum(prefs, axis=1) / prefs.sum(axis=1, keepdims=True),
    )


def make_merchants(rng: np.random.Generator) -> Merchants:
    # Every category gets merchants in proportion to its share, at least 20.
    shares = np.array([c.rows for c in tables.categories()], float)
    counts = np.maximum(20, np.floor(shares / shares.sum() * MERCHANTS)).astype(np.int64)
    counts[np.argmax(counts)] += MERCHANTS - counts.sum()
    names: set[str] = set()
    fields: list[str] = []
    for category, count in zip(CATEGORIES, counts, strict=True):
        for _ in range(count):
            name = _company_name(rng)
            while name in names:
                name = _company_name(rng)
            names.add(name)
            fields.append(csv_text([name, category]))
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return Merchants(field=fields, first_of_category=first, count_of_category=counts)


def csv_text(fields: list[object]) -> str:
    """Fields as one CSV line fragment, quoted exactly as the csv module (and pandas) quote."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[rng.integers(len(seq))]


def _luhn_complete(body: str) -> str:
    """Append the Luhn check digit, as real card numbers carry."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _legit_category_shares() -> np.ndarray:
    counts = np.array([c.rows - c.fraud_rows for c in tables.categories()], float)
    return counts / counts.sum()


def _company_name(rng: np.random.Generator) -> str:
    company = tables.names().company
    a, b, c = (company[i] for i in rng.choice(len(company), 3, replace=False))
    style = rng.random()
    if style < 0.3:
        return f"fraud_{a}, {b} and {c}"
    if style < 0.55:
        return f"fraud_{a}-{b}"
    suffix = _pick(rng, ("and Sons", "LLC", "Inc", "Ltd", "Group", "PLC"))
    return f"fraud_{a} {suffix}"
