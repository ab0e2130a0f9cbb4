"""The generator writes the exact Sparkov fraudTrain.csv format, deterministically."""

from __future__ import annotations

import calendar
import csv
import hashlib
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path

import pytest

from txviz_pipeline.generator.population import CARDS
from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.generator.timeline import (
    REFERENCE_END,
    REFERENCE_ROWS,
    seconds_into_day,
    timeline,
    unix_lag_seconds,
)
from txviz_pipeline.schema import CATEGORIES, SOURCE_COLUMNS
from txviz_pipeline.settings import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample.csv"
ROWS = 20_000
BIG = 200_000
PER_DAY = 2_400  # fraudTrain.csv: 1,296,675 rows over 537.5 days
HEADER = (
    ",trans_date_trans_time,cc_num,merchant,category,amt,first,last,gender,street,city,state,"
    "zip,lat,long,city_pop,job,dob,trans_num,unix_time,merch_lat,merch_long,is_fraud"
)
# sha256 of the files the fixtures write, as the generator wrote them before its tables became
# data files: the same seed and row count must always give the same bytes.
GENERATED_SHA256 = "7b42ad66e2facb0a1b8cdfa7efe6b9928a5daa2cc1ad0d8b57a21f48c18bc44e"
BIG_SHA256 = "665a750d3712b8ae4e4829e783b0584c0414f8776d31fac37f7138e03e5dd771"
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
    return summary, text, rows, sha256(path)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory):
    """A 200,000-row file (several blocks of days) as (summary, rows as tuples of the columns
    the tests read, sha256)."""
    path = tmp_path_factory.mktemp("sparkov") / "big.csv"
    summary = generate_csv(path, BIG, seed=5)
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        keep = [header.index(c) for c in ("trans_date_trans_time", "cc_num", "is_fraud")]
        rows = [tuple(r[i] for i in keep) for r in reader]
    return summary, rows, sha256(path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S")


def seven_years_earlier(t: datetime) -> int:
    year = t.year - 7
    day = min(t.day, calendar.monthrange(year, t.month)[1])
    return calendar.timegm(t.replace(year=year, day=day).timetuple())


def test_header_and_field_count_are_the_sparkov_ones(generated):
    _, text, _, _ = generated
    lines = text.split("\n")
    assert lines[0] == HEADER
    assert tuple(lines[0].split(",")) == SOURCE_COLUMNS
    assert lines[-1] == ""  # the file ends with a newline
    assert text.count("\n") == ROWS + 1
    assert all(len(fields) == 23 for fields in csv.reader(lines[1:-1]))


def test_every_value_has_the_real_files_shape(generated):
    _, _, rows, _ = generated
    compiled = {c: re.compile(p) for c, p in COLUMN_PATTERNS.items()}
    for row in rows:
        for column, pattern in compiled.items():
            assert pattern.fullmatch(row[column]), (column, row[column])


def test_numbers_are_written_as_pandas_writes_floats(generated):
    _, text, rows, _ = generated
    for row in rows:
        for column in ("amt", "lat", "long", "merch_lat", "merch_long"):
            assert repr(float(row[column])) == row[column], (column, row[column])
    assert re.search(r",\d+\.0,", text), "whole-dollar amounts are written like 45.0"
    assert min(float(r["amt"]) for r in rows) >= 1.0


def test_quoting_is_minimal_like_the_csv_module(generated):
    _, text, _, _ = generated
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
    _, _, rows, _ = generated
    assert [int(r[""]) for r in rows] == list(range(ROWS))
    times = [r["trans_date_trans_time"] for r in rows]
    assert times == sorted(times)
    assert len({r["trans_num"] for r in rows}) == ROWS


def test_unix_time_is_the_same_wall_time_seven_years_earlier(generated):
    _, _, rows, _ = generated
    for row in rows:
        assert int(row["unix_time"]) == seven_years_earlier(
            parse_time(row["trans_date_trans_time"])
        )
    # The documented example from fraudTrain.csv's first row.
    assert (
        calendar.timegm(datetime(2019, 1, 1, 0, 0, 18).timetuple())
        + unix_lag_seconds(date(2019, 1, 1))
        == 1325376018
    )
    # 2020-02-29 has no twin in 2013: it maps onto 2013-02-28, like pandas' DateOffset.
    assert unix_lag_seconds(date(2020, 2, 29)) == unix_lag_seconds(date(2020, 2, 28)) - 86400


def test_cardholders_are_consistent_and_come_from_one_population(generated):
    summary, _, rows, _ = generated
    by_card: dict[str, set[tuple[str, ...]]] = {}
    profile = ("first", "last", "gender", "street", "city", "state", "zip", "lat", "long", "dob")
    for row in rows:
        by_card.setdefault(row["cc_num"], set()).add(tuple(row[c] for c in profile))
    assert len(by_card) == summary.cards
    # ~8 days of fraudTrain.csv's 983 cardholders: nearly every one of them has transacted.
    assert 0.9 * CARDS <= summary.cards <= CARDS
    assert all(len(p) == 1 for p in by_card.values()), "a card always has the same holder"
    lengths = Counter(len(cc) for cc in by_card)
    assert lengths.most_common(1)[0][0] == 16
    assert set(lengths) <= set(range(11, 20))


def test_merchants_have_one_category_and_sit_near_the_cardholder(generated):
    summary, _, rows, _ = generated
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
    _, _, rows, _ = generated
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
    summary, _, rows, _ = generated
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


def test_the_same_seed_and_rows_give_the_same_bytes_as_ever(generated, big, tmp_path: Path):
    assert generated[3] == GENERATED_SHA256
    assert big[2] == BIG_SHA256
    # data/sample.csv was written by `txviz generate --rows 5000 --seed 42` (data/README.md).
    generate_csv(tmp_path / "sample.csv", 5_000, seed=42)
    assert (tmp_path / "sample.csv").read_bytes() == SAMPLE.read_bytes()


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
    assert (empty.rows, empty.fraud_rows, empty.cards, empty.merchants) == (0, 0, 0, 0)
    assert empty.first_time is None and empty.last_time is None
    one = generate_csv(tmp_path / "one.csv", 1)
    lines = (tmp_path / "one.csv").read_text().splitlines()
    assert len(lines) == 2 and lines[1].startswith("0,")
    assert (one.cards, one.merchants) == (1, 1)
    assert one.first_time == one.last_time == lines[1].split(",")[1]
    with pytest.raises(ValueError):
        generate_csv(tmp_path / "neg.csv", -1)


def test_start_date_moves_the_timeline(tmp_path: Path):
    generate_csv(tmp_path / "s.csv", 500, start=datetime(2020, 3, 1))
    rows = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    assert rows[0]["trans_date_trans_time"] >= "2020-03-01 00:00:00"


def span_days(first: str, last: str) -> float:
    return (parse_time(last) - parse_time(first)).total_seconds() / 86400


def planned_days(start: date, rows: int) -> float:
    """Days the generator's calendar (weekday and month seasonality) needs for ``rows``."""
    days = timeline(start, rows)
    if not days.days:
        return 0.0
    return days.days - 1 + float(seconds_into_day(days.day_share[-1])) / 86400


def test_first_5000_rows_hold_hundreds_of_cards_over_a_few_days(tmp_path: Path):
    summary = generate_csv(tmp_path / "s.csv", 5_000, seed=42)
    rows = list(csv.DictReader((tmp_path / "s.csv").read_text().splitlines()))
    cards = {r["cc_num"] for r in rows}
    assert summary.cards == len(cards)
    assert 300 <= len(cards) <= CARDS
    assert summary.merchants == len({r["merchant"] for r in rows}) > 600
    times = [r["trans_date_trans_time"] for r in rows]
    assert (summary.first_time, summary.last_time) == (times[0], times[-1])
    # ~2 days at fraudTrain.csv's average rate; early January runs slower (~1,400 a day).
    span = span_days(times[0], times[-1])
    assert 0.7 * 5_000 / PER_DAY <= span <= 2.0 * 5_000 / PER_DAY
    assert span == pytest.approx(planned_days(date(2019, 1, 1), 5_000), abs=0.05)


def test_the_daily_rate_is_fraudtrains(big):
    summary, rows, _ = big
    span = span_days(rows[0][0], rows[-1][0])
    assert 0.8 * BIG / PER_DAY <= span <= 1.5 * BIG / PER_DAY
    assert span == pytest.approx(planned_days(date(2019, 1, 1), BIG), rel=0.01)
    # The calendar reproduces fraudTrain.csv's time line: its row count, started where it
    # starts, ends where it ends; a year holds ~2,400 transactions a day.
    assert planned_days(date(2019, 1, 1), REFERENCE_ROWS) == pytest.approx(
        (REFERENCE_END - datetime(2019, 1, 1)).total_seconds() / 86400, abs=0.01
    )
    assert 2_300 <= REFERENCE_ROWS / planned_days(date(2019, 1, 1), REFERENCE_ROWS) <= 2_500
    assert 340 <= planned_days(date(2019, 1, 1), 365 * 2_450) <= 390
    # A fast start month covers the same rows in fewer days than a slow one.
    assert planned_days(date(2019, 6, 1), BIG) < planned_days(date(2019, 1, 1), BIG)


def test_days_weeks_and_cards_have_sparkovs_rhythm(big):
    summary, rows, _ = big
    legit = [r for r in rows if r[2] == "0"]
    hours = Counter(int(t[11:13]) for t, _, _ in legit)
    am = sum(hours[h] for h in range(12))
    pm = sum(hours[h] for h in range(12, 24))
    assert 1.4 <= pm / am <= 1.7  # Sparkov's afternoon/evening profile
    by_day = Counter(t[:10] for t, _, _ in legit)
    by_weekday: Counter[int] = Counter()
    days_per_weekday: Counter[int] = Counter()
    for day, n in list(by_day.items())[:-1]:  # the last day is cut short
        weekday = date.fromisoformat(day).weekday()
        by_weekday[weekday] += n
        days_per_weekday[weekday] += 1
    rate = {d: by_weekday[d] / days_per_weekday[d] for d in range(7)}
    assert rate[0] > 1.4 * rate[2] and rate[6] > 1.4 * rate[2]  # Mondays and Sundays peak
    # One population, all of it active all along: the same cards in the first and last weeks.
    first = {c for t, c, _ in rows[:15_000]}
    last = {c for t, c, _ in rows[-15_000:]}
    assert summary.cards == CARDS
    assert len(first & last) >= 0.9 * CARDS


@pytest.mark.parametrize("rows", [400, 1_000, 5_000, BIG])
def test_fraud_rate_holds_at_any_size_inside_the_span(tmp_path: Path, big, rows: int):
    if rows == BIG:
        summary, table, _ = big
    else:
        summary = generate_csv(tmp_path / "f.csv", rows, seed=3)
        with open(tmp_path / "f.csv", newline="") as f:
            reader = csv.DictReader(f)
            table = [(r["trans_date_trans_time"], r["cc_num"], r["is_fraud"]) for r in reader]
    fraud = [r for r in table if r[2] == "1"]
    assert summary.fraud_rows == len(fraud) == round(rows * 0.00579)
    if rows >= 5_000:
        assert 0.005 <= len(fraud) / rows <= 0.006
    windows = Counter((card, t[:10]) for t, card, _ in fraud)
    assert all(2 <= n <= 25 for n in windows.values())
    assert max(Counter(card for card, _ in windows).values()) == 1
    # Fraud never stretches the span: the file still ends where the calendar says.
    span = span_days(table[0][0], table[-1][0])
    assert span <= planned_days(date(2019, 1, 1), rows) + 1 / 86400


def test_writing_into_a_folder_is_refused_and_leaves_nothing(tmp_path: Path):
    with pytest.raises(ValueError, match="is a folder"):
        generate_csv(tmp_path, 5)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("txviz_pipeline.generator.sparkov.os.replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        generate_csv(tmp_path / "out.csv", 5)
    assert list(tmp_path.iterdir()) == []
