"""The generator's tables load from the package's data files, whole and consistent."""

from __future__ import annotations

import re

from txviz_pipeline.generator import tables
from txviz_pipeline.schema import CATEGORIES


def test_names_are_unique_per_list_and_look_like_names():
    names = tables.names()
    for kind in ("female_first", "male_first", "last", "street_suffix", "company"):
        values = getattr(names, kind)
        assert len(values) == len(set(values)) >= 20, kind
        assert all(re.fullmatch(r"[A-Z][A-Za-z]+", v) for v in values), kind
    assert len(names.jobs) == len(set(names.jobs)) > 100
    assert names.street == names.female_first + names.male_first + names.last


def test_cities_have_a_state_zip_position_and_population():
    cities = tables.cities()
    assert len(cities) == 227
    for c in cities:
        assert re.fullmatch(r"[A-Z]{2}", c.state) and 100 <= int(c.zip) <= 99999, c
        assert -90 < float(c.lat) < 90 and -180 < float(c.long) < 180, c
        assert len(c.lat.split(".")[1]) <= 4 and int(c.city_pop) > 0, c


def test_categories_follow_the_schema_and_fraudtrain():
    kinds = tables.categories()
    assert len(kinds) == len(CATEGORIES)
    assert sum(c.rows for c in kinds) == 1_296_675  # fraudTrain.csv
    assert sum(c.fraud_rows for c in kinds) == 7_506
    by_name = dict(zip(CATEGORIES, kinds, strict=True))
    assert by_name["gas_transport"].amount == "normal"
    assert by_name["travel"].amount_a == 150.0 and by_name["travel"].small_share == 0.6
    assert (by_name["shopping_net"].fraud_low, by_name["shopping_net"].fraud_high) == (750, 1250)
    for c in kinds:
        assert c.amount in ("normal", "lognormal") and 0 < c.fraud_rows < c.rows
        assert 0 < c.fraud_low < c.fraud_high


def test_card_shapes_share_out_every_card():
    shapes = tables.card_shapes()
    assert sum(s.share for s in shapes) == 1.0
    assert sorted(s.length for s in shapes) == [11, 12, 13, 14, 15, 16, 19]
    assert all(len(p) < s.length for s in shapes for p in s.prefixes)
