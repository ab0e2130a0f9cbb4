"""The generator writes the exact Sparkov fraudTrain.csv format, deterministically."""

from __future__ import annotations

import calendar
import csv
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from txviz_pipeline.ingest.sparkov import _unix_lag_seconds, generate_csv
from txviz_pipeline.schema import CATEGORIES, SOURCE_COLUMNS

ROWS = 20_000
HEADER = (
    ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,"
    "zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
INFLATED = {"shopping_net", "shopping_pos", "misc_net", "misc_pos", "grocery_pos"}

# What each column of a real fraudTrain.csv row looks like.
COLUMN_PATTERNS = {
    "": r"\d+",
    "trans_date_trans_time": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d",
    "cc_num": r"[1-9]\d{10,18}",
    "merchant": r"fraud_[A-Z][A-Za-z' ,-]+",
    "category": "|".join(CATEGORIES),
    "amt": r"\d+\.\d{1,2}",
    "first": r"[A-Z][a-z]+",
    "last": r"[A-Z][A-Za-z]+",
    "gender": r"[FM]",
    "street": r"\d{1,5} [A-Z][A-Za-z]+ [A-Z][a-z]+( (Apt\.|Suite) \d{3})?",
    "city": r"[A-Z][A-Za-z. ]+",
    "state": r"[A-Z]{2}",
    "zip": r"[1-9]\d{3,4}",
    "lat": r"-?\d{1,2}\.\d{1,4}",
    "long": r"-?\d{1,3}\.\d{1,4}",
    "city_pop": r"[1-9]\d*",
    "job": r"[A-Z][A-Za-z ,()/]+",
    "dob": r"\d{4}-\d\d-\d\d",
    "trans_num": r"[0-9a-f]{32}",
    "unix_time": r"1[0-9]{9}",
    "merch_lat": r"-?\d{1,2}\.\d{1,6}",
    "merch_long": r"-?\d{1,3}\.\d{1,6}",
    "is_fraud": r"[01]",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("sparkov") / "gen.csv"
    summary = generate_csv(path, ROWS, seed=7)
    text = path.read_text()
    rows = list(csv.DictReader(text.splitlines()))
    return summary, text, rows


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")


def seven_years_earlier(t: datetime) -> int:
    year = t.year - 7
    day = min(t.day, calendar.monthrange(year, t.month)[1])
    return calendar.timegm(t.replace(year=year, day=day).timetuple())


def test_header_and_field_count_are_the_sparkov_ones(generated):
    _, text, _ = generated
    lines = text.split("\n")
    assert lines[0] == HEADER
    assert tuple(lines[0].split(",")) == SOURCE_COLUMNS
    assert lines[-1] == ""  # the file ends with a newline
    assert text.count("\n") == ROWS + 1
    assert all(len(fields) == 23 for fields in csv.reader(lines[1:-1]))


def test_every_value_has_the_real_files_shape(generated):
    _, _, rows = generated
    compiled = {c: re.compile(p) for c, p in COLUMN_PATTERNS.items()}
    for row in rows:
        for column, pattern in compiled.items():
            assert pattern.fullmatch(row[column]), (column, row[column])


def test_numbers_are_written_as_pandas_writes_floats(generated):
    _, text, rows = generated
    for row in rows:
        for column in ("amt", "lat", "long", "merch_lat", "merch_long"):
            assert repr(float(row[column])) == row[column], (column, row[column])
    assert re.search(r",\d+\.0,", text), "whole-dollar amounts are written like 45.0"
    assert min(float(r["amt"]) for r in rows) >= 1.0


def test_quoting_is_minimal_like_the_csv_module(generated):
    _, text, _ = generated
    lines = text.split("\n")[1:-1]
    quoted = [line for line in lines if '"' in line]
    assert quoted, "merchants like 'fraud_Rippin, Kub and Mann' need quotes"
    for line in lines[:2000]:
        fields = next(csv.reader([line]))
        buf = []
        writer = csv.writer(_Collect(buf), lineterminator="")
        writer.writerow(fields)
        assert buf[0] == line


class _Collect:
    def __init__(self, out: list[str]):
        self.out = out

    def write(self, s: str) -> None:
        self.out.append(s)


def test_index_sorted_times_and_unique_trans_num(generated):
    _, _, rows = generated
    assert [int(r[""]) for r in rows] == list(range(ROWS))
    times = [r["trans_date_trans_time"] for r in rows]
    assert times == sorted(times)
    assert len({r["trans_num"] for r in rows}) == ROWS


def test_unix_time_is_the_same_wall_time_seven_years_earlier(generated):
    _, _, rows = generated
    for row in rows:
        assert int(row["unix_time"]) == seven_years_earlier(
            parse_time(row["trans_date_trans_time"])
        )
    # The documented example from fraudTrain.csv's first row.
    assert (
        calendar.timegm(datetime(2019, 1, 1, 0, 0, 18).timetuple())
        + _unix_lag_seconds(date(2019, 1, 1))
        == 1325376018
    )
    # 2020-02-29 has no twin in 2013: it maps onto 2013-02-28, like pandas' DateOffset.
    assert _unix_lag_seconds(date(2020, 2, 29)) == _unix_lag_seconds(date(2020, 2, 28)) - 86400


def test_cardholders_are_consistent_and_scale_with_rows(generated):
    summary, _, rows = generated
    assert summary.cards == ROWS // 1300
    by_card: dict[str, set[tuple[str, ...]]] = {}
    profile = ("first", "last", "gender", "street", "city", "state", "zip", "lat", "long", "dob")
    for row in rows:
        by_card.setdefault(row["cc_num"], set()).add(tuple(row[c] for c in profile))
    assert len(by_card) == summary.cards
    assert all(len(p) == 1 for p in by_card.values()), "a card always has the same holder"
    lengths = Counter(len(cc) for cc in by_card)
    assert lengths.most_common(1)[0][0] == 16
    assert set(lengths) <= set(range(11, 20))


def test_merchants_have_one_category_and_sit_near_the_cardholder(generated):
    summary, _, rows = generated
    categories: dict[str, set[str]] = {}
    for row in rows:
        categories.setdefault(row["merchant"], set()).add(row["category"])
        assert abs(float(row["merch_lat"]) - float(row["lat"])) <= 1.0
        assert abs(float(row["merch_long"]) - float(row["long"])) <= 1.0
    assert all(len(c) == 1 for c in categories.values())
    assert summary.merchants == 693
    assert len(categories) > 600
    styles = [m for m in categories if m.endswith((" and Sons", " LLC", " Inc", " Ltd"))]
    assert styles and any(re.fullmatch(r"fraud_\w+, \w+ and \w+", m) for m in categories)


def test_categories_have_realistic_shares_and_amounts(generated):
    _, _, rows = generated
    legit = [r for r in rows if r["is_fraud"] == "0"]
    counts = Counter(r["category"] for r in legit)
    assert set(counts) == set(CATEGORIES)
    assert counts["gas_transport"] > 2 * counts["travel"]
    assert counts["grocery_pos"] > 2 * counts["grocery_net"]

    def median(category: str) -> float:
        amounts = sorted(float(r["amt"]) for r in legit if r["category"] == category)
        return amounts[len(amounts) // 2]

    assert 50 <= median("grocery_pos") <= 120
    assert 50 <= median("gas_transport") <= 75
    travel = [float(r["amt"]) for r in legit if r["category"] == "travel"]
    assert max(travel) > 500  # rare but large


def test_fraud_looks_like_sparkov(generated):
    summary, _, rows = generated
    fraud = [r for r in rows if r["is_fraud"] == "1"]
    legit = [r for r in rows if r["is_fraud"] == "0"]
    assert summary.fraud_rows == len(fraud)
    assert 0.005 <= len(fraud) / ROWS <= 0.006

    night = [
        r for r in fraud if parse_time(r["trans_date_trans_time"]).hour in (22, 23, 0, 1, 2, 3)
    ]
    assert 0.65 <= len(night) / len(fraud) <= 0.95

    windows = Counter((r["cc_num"], r["trans_date_trans_time"][:10]) for r in fraud)
    assert all(2 <= n <= 25 for n in windows.values())
    cards = Counter(card for card, _ in windows)
    assert max(cards.values()) == 1, "one fraud day per affected card"

    inflated = [r for r in fraud if r["category"] in INFLATED]
    assert len(inflated) / len(fraud) >= 0.6
    mean = sum(float(r["amt"]) for r in inflated) / len(inflated)
    assert 200 <= mean <= 1200
    legit_mean = sum(float(r["amt"]) for r in legit) / len(legit)
    assert mean > 3 * legit_mean


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path):
    a, b, c = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate_csv(a, 3_000, seed=11)
    generate_csv(b, 3_000, seed=11)
    generate_csv(c, 3_000, seed=12)
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


def test_tiny_and_empty_files(tmp_path: Path):
    empty = generate_csv(tmp_path / "empty.csv", 0)
    assert (tmp_path / "empty.csv").read_text() == HEADER + "\n"
    assert empty.rows == 0 and empty.fraud_rows == 0
    generate_csv(tmp_path / "one.csv", 1)
    lines = (tmp_path / "one.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("0,")
    with pytest.raises(ValueError):
        generate_csv(tmp_path / "neg.csv", -1)


def test_start_date_moves_the_timeline(tmp_path: Path):
    generate_csv(tmp_path / "s.csv", 500, start=datetime(2020, 3, 1))
    rows = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert rows[0]["trans_date_trans_time"] >= "2020-03-01 00:00:00"
