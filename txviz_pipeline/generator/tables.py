"""The generator's reference tables, read from the data files in ``tables/``.

``names.json`` holds first names, last names, street suffixes, company surnames (in the style
of the Faker provider Sparkov uses for merchants) and jobs; ``cities.csv`` the cardholders'
home towns; ``categories.csv`` fraudTrain.csv's rows per category and the amount model of
each; ``card_shapes.json`` card number lengths, prefixes and shares. Each file is read once,
on first use.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from txviz_pipeline.schema import CATEGORIES


def _text(name: str) -> str:
    return resources.files(__package__).joinpath("tables", name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Names:
    female_first: list[str]
    male_first: list[str]
    last: list[str]
    street_suffix: list[str]
    company: list[str]
    jobs: list[str]

    @property
    def street(self) -> list[str]:
        """Street names are people's names."""
        return self.female_first + self.male_first + self.last


@dataclass(frozen=True)
class City:
    city: str
    state: str
    zip: str  # an integer as text, so New England's lose their leading 0
    lat: str  # 4 decimals at most
    long: str
    city_pop: str


@dataclass(frozen=True)
class Category:
    """fraudTrain.csv's rows of a category, and how its amounts are drawn.

    Legitimate amounts: ``amount`` "normal" means mean a / sd b, "lognormal" median a /
    sigma b; a ``small_share`` of them are sub-$10 purchases around ``small_median`` (the
    net/pos/travel categories' medians are ~$7 in the data). Fraud amounts are uniform
    between ``fraud_low`` and ``fraud_high`` (inflated where Sparkov's fraud profiles inflate
    them, small "card testing" amounts elsewhere).
    """

    rows: int  # legitimate and fraud together
    fraud_rows: int
    amount: str
    amount_a: float
    amount_b: float
    small_share: float
    small_median: float
    fraud_low: float
    fraud_high: float


@dataclass(frozen=True)
class CardShape:
    length: int
    prefixes: list[str]
    share: float


@cache
def names() -> Names:
    return Names(**json.loads(_text("names.json")))


@cache
def cities() -> list[City]:
    return [City(**row) for row in csv.DictReader(io.StringIO(_text("cities.csv")))]


@cache
def categories() -> list[Category]:
    """One per category, in schema.CATEGORIES order."""
    by_name: dict[str, Category] = {}
    for row in csv.DictReader(io.StringIO(_text("categories.csv"))):
        name = row.pop("category")
        amount = row.pop("amount")
        ints = {k: int(row.pop(k)) for k in ("rows", "fraud_rows")}
        by_name[name] = Category(amount=amount, **ints, **{k: float(v) for k, v in row.items()})
    if sorted(by_name) != sorted(CATEGORIES):
        raise ValueError(f"categories.csv names {sorted(by_name)}, not {sorted(CATEGORIES)}")
    return [by_name[name] for name in CATEGORIES]


@cache
def card_shapes() -> list[CardShape]:
    return [CardShape(**shape) for shape in json.loads(_text("card_shapes.json"))]
