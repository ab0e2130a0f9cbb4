"""The dashboard SQL on a small DuckDB: exact results, and only portable (ANSI/Trino) syntax."""

from __future__ import annotations

import re
from collections import Counter
from decimal import Decimal

import duckdb
import orjson
import pytest

from txviz_pipeline.compaction import parse_landing_lines
from txviz_pipeline.serving.queries import (
    CARD_CHOICES_SQL,
    CARD_TIMELINE_SQL,
    DATASET_SQL,
    LATEST_FLAGGED_LIMIT,
    PANELS,
    REASONS_SEPARATOR,
    add_trino_functions,
    dataset_sql,
    panel_view,
    run_panel,
)
from txviz_pipeline_tests.compaction.records import landing_record
from txviz_pipeline_tests.serving.curated import amount_total

RECORDS = [landing_record(i) for i in range(200)]


@pytest.fixture
def con():
    """An in-memory SPICE: the curated rows (two copies of two of them) -> the dataset."""
    con = duckdb.connect()
    table, bad = parse_landing_lines([orjson.dumps(r) for r in RECORDS])
    assert bad == 0
    hours = ["2026-11-27-09"] * len(RECORDS)
    copies, _ = parse_landing_lines([orjson.dumps(RECORDS[5]), orjson.dumps(RECORDS[17])])
    staged = table.append_column("arrival_hour", [hours])  # noqa: F841
    late = copies.append_column("arrival_hour", [["2026-11-27-10"] * 2])  # noqa: F841
    con.execute("CREATE SCHEMA txviz")
    con.execute("CREATE TABLE txviz.transactions AS SELECT * FROM staged")
    con.execute("INSERT INTO txviz.transactions SELECT * FROM late")
    add_trino_functions(con)
    con.execute(f"CREATE TABLE transactions AS {DATASET_SQL}")
    yield con
    con.close()


def test_dataset_keeps_one_copy_the_earliest(con):
    assert con.execute("SELECT COUNT(*) FROM txviz.transactions").fetchone()[0] == 202
    assert con.execute("SELECT COUNT(*) FROM transactions").fetchone()[0] == 200
    hours = con.execute(
        "SELECT DISTINCT arrival_hour FROM transactions WHERE row_id IN (5, 17)"
    ).fetchall()
    assert hours == [("2026-11-27-09",)]


def test_kpis_are_exact(con):
    kpis = run_panel(con, "kpis").iloc[0]
    fraud = sum(r["is_fraud"] for r in RECORDS)
    assert int(kpis.transactions) == 200
    assert Decimal(str(kpis.amount_total)) == amount_total(RECORDS)
    assert int(kpis.fraud_count) == fraud
    assert kpis.fraud_rate == pytest.approx(fraud / 200)
    assert int(kpis.flagged_count) == sum(r["fraud_flagged"] for r in RECORDS)
    assert kpis.first_event_time == min(r["event_time"] for r in RECORDS)


def test_by_category_sums_to_the_cent(con):
    frame = run_panel(con, "by_category")
    got = {row.category: Decimal(str(row.amount_total)) for row in frame.itertuples()}
    expected: dict[str, Decimal] = {}
    for r in RECORDS:
        expected[r["category"]] = expected.get(r["category"], Decimal(0)) + Decimal(
            str(r["amount"])
        )
    assert got == expected
    assert list(frame.amount_total) == sorted(frame.amount_total, reverse=True)
    assert frame.transactions.sum() == 200


def test_by_hour_and_per_minute(con):
    by_hour = run_panel(con, "by_hour")
    counts = Counter(r["hour"] for r in RECORDS)
    assert dict(zip(by_hour.hour, by_hour.transactions, strict=True)) == counts
    per_minute = run_panel(con, "per_minute")
    assert per_minute.transactions.sum() == 200
    assert list(per_minute.minute) == sorted(per_minute.minute)
    assert per_minute.minute.iloc[0] == "2019-01-01T00:00"


def test_top_merchants_and_latest_flagged(con):
    top = run_panel(con, "top_merchants")
    fraud_by_merchant = Counter(r["merchant"] for r in RECORDS if r["is_fraud"])
    assert dict(zip(top.merchant, top.fraud_count, strict=True)) == fraud_by_merchant
    latest = run_panel(con, "latest_flagged")
    flagged = sorted(
        (r for r in RECORDS if r["fraud_flagged"]),
        key=lambda r: r["event_time"],
        reverse=True,
    )[:LATEST_FLAGGED_LIMIT]
    assert list(latest.event_time) == [r["event_time"] for r in flagged]
    assert list(latest.card_last4) == [r["card_last4"] for r in flagged]
    assert latest.fraud_reasons.iloc[0] == REASONS_SEPARATOR.join(flagged[0]["fraud_reasons"])
    assert list(latest.fraud_score) == [r["fraud_score"] for r in flagged]
    assert list(latest.model_version) == [r["model_version"] for r in flagged]
    assert "card_token" not in latest.columns


def test_reasons_reach_the_dataset_as_text(con):
    # SPICE takes no arrays: the reasons are one line of text and the strongest one alone.
    rows = con.execute(
        "SELECT trans_num, fraud_reasons, top_fraud_reason FROM transactions"
    ).fetchall()
    by_num = {r["trans_num"]: r["fraud_reasons"] for r in RECORDS}
    assert any(by_num.values()) and not all(by_num.values())
    for trans_num, text, top in rows:
        reasons = by_num[trans_num]
        assert text == REASONS_SEPARATOR.join(reasons)
        assert top == (reasons[0] if reasons else None)


def verdicts_differ_from_scores() -> list[dict]:
    """Two cards whose model verdicts contradict a fixed 0.5 line: card A's transactions were
    flagged with low scores (a model with a low threshold), card B's were not, with high ones."""
    low = [
        landing_record(i, card_token="a" * 32, fraud_score=0.11, fraud_flagged=1) for i in range(3)
    ]
    high = [
        landing_record(i, card_token="b" * 32, fraud_score=0.93, fraud_flagged=0)
        for i in range(3, 8)
    ]
    return low + high


@pytest.fixture
def verdicts(con):
    con.execute("DELETE FROM transactions")
    landed, _ = parse_landing_lines([orjson.dumps(r) for r in verdicts_differ_from_scores()])  # noqa: F841
    con.execute("CREATE TABLE verdicts AS SELECT *, '2026-11-27-09' AS arrival_hour FROM landed")
    con.execute(f"INSERT INTO transactions {dataset_sql('verdicts')}")
    return con


def test_flagged_is_the_models_verdict_not_a_score_line(verdicts):
    assert int(run_panel(verdicts, "kpis").iloc[0].flagged_count) == 3
    latest = run_panel(verdicts, "latest_flagged")
    assert sorted(latest.fraud_score) == [0.11] * 3
    assert set(latest.card_last4) == {"0000", "0001", "0002"}


def test_cards_are_ranked_and_timed_by_the_models_verdict(verdicts):
    cards = verdicts.execute(CARD_CHOICES_SQL.format(table="transactions")).df()
    assert list(zip(cards.card_token, cards.flagged, strict=True)) == [("a" * 32, 3), ("b" * 32, 0)]
    for token, expected in (("a" * 32, [1, 1, 1]), ("b" * 32, [0] * 5)):
        timeline = verdicts.execute(CARD_TIMELINE_SQL, [token]).df()
        assert list(timeline.flagged) == expected
        assert set(timeline.model_version) == {verdicts_differ_from_scores()[0]["model_version"]}


def test_every_panel_runs_on_an_empty_dataset(con):
    con.execute("DELETE FROM transactions")
    for name in PANELS:
        run_panel(con, name)
    kpis = run_panel(con, "kpis").iloc[0]
    assert (kpis.transactions, kpis.amount_total, kpis.fraud_count) == (0, 0, 0)


# DuckDB-only syntax that Athena (Trino) would reject.
NON_PORTABLE = [
    r"::",
    r"\bILIKE\b",
    r"\bstrftime\b",
    r"\bdate_trunc\b",
    r"\bQUALIFY\b",
    r"\bEXCLUDE\b",
    r"\blist_",
    r"\bstruct_",
    r"\bstring_agg\b",
    r"\bGROUP BY ALL\b",
    r"\bepoch\b",
    r"\barray_to_string\b",
]


@pytest.mark.parametrize("name", ["dataset", *PANELS])
def test_sql_avoids_duckdb_only_syntax(name):
    sql = DATASET_SQL if name == "dataset" else PANELS[name]
    for pattern in NON_PORTABLE:
        assert not re.search(pattern, sql, re.IGNORECASE), f"{name} uses {pattern}"


def test_unknown_panel_is_a_clear_error(con):
    with pytest.raises(KeyError, match="unknown panel 'nope'"):
        run_panel(con, "nope")
    assert panel_view("kpis") == "panel_kpis"


def test_filters_are_one_sql_condition_with_quoted_values():
    from datetime import date

    from txviz_pipeline.serving.queries import Filters

    assert Filters().where() == "TRUE"
    assert Filters(date(2019, 1, 1), date(2019, 1, 31), ("kids_pets",), ("O'X", "TX")).where() == (
        "event_time >= '2019-01-01' AND event_time < '2019-02-01'"
        " AND category IN ('kids_pets') AND state IN ('O''X', 'TX')"
    )


def test_by_state_places_each_state_at_its_cardholders_mean_position(con):
    (row,) = run_panel(con, "by_state").itertuples()
    assert row.state == "NC"
    assert (row.lat, row.lon) == pytest.approx((RECORDS[0]["lat"], RECORDS[0]["long"]))
    assert int(row.transactions) == len(RECORDS)
    assert Decimal(str(row.amount_total)) == amount_total(RECORDS)
    assert int(row.fraud_count) == sum(r["is_fraud"] for r in RECORDS)


@pytest.mark.parametrize("column", ["gender", "age_band"])
def test_daily_by_demographic_is_exact_per_day_and_group(con, column):
    records = [
        {**r, "event_time": f"2019-01-0{1 + i % 3}" + r["event_time"][10:], "age_band": band}
        for i, (r, band) in enumerate(
            zip(RECORDS, ["25-34", "50-64", "65+", "18-24"] * 50, strict=True)
        )
    ]
    con.execute("DELETE FROM transactions")
    landed, _ = parse_landing_lines([orjson.dumps(r) for r in records])  # noqa: F841
    con.execute("CREATE TABLE verdicts AS SELECT *, '2026-11-27-09' AS arrival_hour FROM landed")
    con.execute(f"INSERT INTO transactions {dataset_sql('verdicts')}")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["event_time"][:10], r[column]), []).append(r)

    frame = run_panel(con, f"daily_by_{column}")

    assert list(frame.columns) == [
        "day",
        column,
        "transactions",
        "amount_total",
        "fraud_count",
        "fraud_rate",
    ]
    assert [(row.day, getattr(row, column)) for row in frame.itertuples()] == sorted(groups)
    for row in frame.itertuples():
        rows = groups[(row.day, getattr(row, column))]
        fraud = sum(r["is_fraud"] for r in rows)
        assert int(row.transactions) == len(rows)
        assert Decimal(str(row.amount_total)) == amount_total(rows)
        assert int(row.fraud_count) == fraud
        assert row.fraud_rate == pytest.approx(fraud / len(rows), abs=1e-12)
