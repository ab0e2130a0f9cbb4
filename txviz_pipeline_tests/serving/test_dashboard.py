"""The dashboard page in Streamlit's headless harness: exact KPI values and the empty state."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pandas as pd
import pytest
import streamlit as st
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from txviz_pipeline import aws
from txviz_pipeline.serving.dashboard import app as dashboard_app
from txviz_pipeline.serving.dashboard.card import CARD_FLAGGED_LABEL
from txviz_pipeline.serving.dashboard.flags import FLAGGED_LABEL
from txviz_pipeline.settings import LANDING_PREFIX, PARTITION_FMT, Settings
from txviz_pipeline_tests.compaction.records import (
    FLAGGED_REASONS,
    MODEL_VERSION,
    landing_record,
    ndjson,
    varied_records,
)
from txviz_pipeline_tests.serving.curated import amount_total
from txviz_pipeline_tests.serving.spice_files import (
    STATE_POSITIONS,
    STATES,
    build_spice,
    states_records,
)

APP = dashboard_app.__file__


@pytest.fixture
def settings(tmp_path, monkeypatch) -> Settings:
    monkeypatch.setenv("TXVIZ_HOME", str(tmp_path / "home"))
    return Settings.from_env()


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def chart_data(at: AppTest, marker: str) -> pd.DataFrame:
    """The data of the one Vega-Lite chart whose spec contains ``marker``."""
    charts = [
        el.proto
        for el in at.main.get("vega_lite_chart") + at.main.get("arrow_vega_lite_chart")
        if marker in el.proto.spec
    ]
    assert len(charts) == 1, f"{len(charts)} charts contain {marker!r}"
    (dataset,) = charts[0].datasets
    return convert_arrow_bytes_to_pandas_df(dataset.data.data)


def test_empty_state_before_the_first_refresh(settings):
    at = run_app()
    assert len(at.info) == 1
    assert dashboard_app.WAITING_MESSAGE in at.info[0].value
    assert len(at.metric) == 0


def test_kpis_and_category_sums_equal_the_data(settings):
    records = varied_records(1500)
    build_spice(settings.spice_path, records)

    at = run_app()

    metrics = {m.label: m.value for m in at.metric}
    fraud = sum(r["is_fraud"] for r in records)
    assert metrics["Transactions"] == "1,500"
    assert metrics["Amount"] == f"${amount_total(records):,.2f}"
    assert metrics["Fraud (labelled)"] == f"{fraud:,}"
    assert metrics["Fraud rate"] == f"{fraud / 1500:.2%}"
    # Every flag of these records has a score under 0.5: the tile counts the models' verdicts.
    assert metrics[FLAGGED_LABEL] == f"{sum(r['fraud_flagged'] for r in records):,}"
    assert metrics[FLAGGED_LABEL] != "0"
    by_category: dict[str, Decimal] = {}
    for r in records:
        by_category[r["category"]] = by_category.get(r["category"], Decimal(0)) + Decimal(
            str(r["amount"])
        )
    table = at.dataframe[0].value
    shown = {row.category: f"{row.amount_total:.2f}" for row in table.itertuples()}
    assert shown == {c: f"{v:.2f}" for c, v in by_category.items()}
    assert any("SPICE refreshed" in c.value for c in at.caption)
    flagged = at.dataframe[1].value
    assert flagged["Card"].str.fullmatch(r"•••• \d{4}").all()


def test_flags_are_the_scoring_models_verdicts_not_a_score_line(settings):
    # Scored by two models: the older flagged at 0.2, the newer at 0.15. A 0.17 is flagged by
    # the newer one only; a 0.8 that a model did not flag is not counted.
    records = [
        landing_record(i, fraud_score=0.17, fraud_flagged=1, model_version="fraud-new")
        for i in range(4)
    ] + [
        landing_record(i, fraud_score=0.17, fraud_flagged=0, model_version="fraud-old")
        for i in range(4, 8)
    ]
    records.append(landing_record(8, fraud_score=0.8, fraud_flagged=0, model_version="fraud-old"))
    build_spice(settings.spice_path, records)

    at = run_app()

    assert {m.label: m.value for m in at.metric}[FLAGGED_LABEL] == "4"
    assert [h.value for h in at.subheader].count(dashboard_app.FLAGGED_TITLE) == 1
    flagged = at.dataframe[1].value
    assert list(flagged["Card"]) == [f"•••• {i:04d}" for i in (3, 2, 1, 0)]
    assert set(flagged["Score"]) == {0.17}
    assert set(flagged["Model"]) == {"fraud-new"}


def test_loaded_but_empty_spice_says_so(settings):
    build_spice(settings.spice_path, [])
    at = run_app()
    assert {m.label: m.value for m in at.metric}["Transactions"] == "0"
    assert any("holds no transactions" in i.value for i in at.info)


@pytest.mark.integration
def test_freshly_landed_records_show_before_any_spice(moto_settings):
    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    now = datetime.now(UTC)
    processed_at = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    records = [landing_record(i, processed_at=processed_at) for i in range(20)]
    hour = f"{LANDING_PREFIX}{now.strftime(PARTITION_FMT)}/"
    # Records 10..19 land twice (at-least-once delivery): the page counts them once.
    s3.put_object(Bucket=moto_settings.bucket, Key=hour + "a", Body=ndjson(records))
    s3.put_object(Bucket=moto_settings.bucket, Key=hour + "b", Body=ndjson(records[10:]))
    st.cache_resource.clear()

    at = run_app()

    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Transactions"] == "20"
    assert metrics["Amount"] == f"${amount_total(records):,.2f}"
    assert any("20 rows just landed, not yet compacted" in c.value for c in at.caption)
    flagged = at.dataframe[1].value
    fraud = [r for r in records if r["fraud_flagged"]]
    assert len(flagged) == len(fraud)
    assert (flagged["New"] == "● new").all()
    assert set(flagged["Card"]) == {f"•••• {r['card_last4']}" for r in fraud}
    assert set(flagged["Score"]) == {r["fraud_score"] for r in fraud}
    assert set(flagged["Model"]) == {MODEL_VERSION}
    assert set(flagged["Reasons"]) == {"; ".join(FLAGGED_REASONS)}


@pytest.mark.integration
def test_open_alerts_show_as_banners_and_every_alert_in_the_list(moto_settings):
    from txviz_pipeline.alerts.alert import Alert
    from txviz_pipeline.alerts.store import write_alert

    s3 = aws.client("s3", moto_settings)
    s3.create_bucket(Bucket=moto_settings.bucket)
    check = {"asset": "landing_transactions", "check": "bad_record_rate_below_threshold"}
    warned = Alert(
        "data_quality",
        "WARN",
        "bad_record_rate_below_threshold warned",
        "dq:a",
        **check,
        partition="2026/12/02/06",
        link="http://127.0.0.1:3000/runs/abc",
    )
    cleared = Alert("data_quality", "WARN", "freshness warned", "dq:b", partition="2026/12/02/05")
    resolved = Alert("data_quality", "WARN", "freshness ok again", "dq:b", status="resolved")
    for n, alert in enumerate([cleared, warned, resolved]):
        write_alert(s3, moto_settings.bucket, alert, message_id=f"m{n}")

    at = run_app()

    # Only the alert nothing resolved is a banner, with where it is and its run.
    assert [w.value for w in at.warning] == [
        "**bad_record_rate_below_threshold warned** — asset landing_transactions · check "
        f"bad_record_rate_below_threshold · partition 2026/12/02/06 (raised "
        f"{warned.raised_at_text[:16].replace('T', ' ')} UTC) · "
        "[open in Dagster](http://127.0.0.1:3000/runs/abc)"
    ]
    listed = at.dataframe[0].value
    assert list(listed["Alert"]) == [a.title for a in (resolved, warned, cleared)]
    assert list(listed["Status"]) == ["resolved", "open", "open"]


def test_sidebar_filters_narrow_every_panel(settings):
    records = states_records(1500)
    states = STATES
    for i, r in enumerate(records):
        if i % 4 == 0:  # a second event date
            r["event_time"] = "2019-01-02" + r["event_time"][10:]
    build_spice(settings.spice_path, records)
    at = run_app()
    assert at.sidebar.multiselect[1].options == states
    last = "2019-01-02"

    at.sidebar.multiselect[0].set_value(["grocery_pos", "shopping_net"])
    at.sidebar.multiselect[1].set_value(["TX"])
    at.sidebar.date_input[0].set_value((date.fromisoformat(last), date.fromisoformat(last)))
    at.run()
    assert not at.exception, at.exception

    kept = [
        r
        for r in records
        if r["category"] in ("grocery_pos", "shopping_net")
        and r["state"] == "TX"
        and r["event_time"][:10] == last
    ]
    assert 0 < len(kept) < len(records)
    metrics = {m.label: m.value for m in at.metric}
    fraud = sum(r["is_fraud"] for r in kept)
    assert metrics["Transactions"] == f"{len(kept):,}"
    assert metrics["Amount"] == f"${amount_total(kept):,.2f}"
    assert metrics["Fraud (labelled)"] == f"{fraud:,}"
    assert metrics["Fraud rate"] == f"{fraud / len(kept):.2%}"
    shown = set(at.dataframe[0].value.category)
    assert shown == {r["category"] for r in kept}
    assert any(c.value.startswith("Filtered: event dates") for c in at.caption)

    at.sidebar.multiselect[1].set_value(["NC"])
    at.sidebar.multiselect[0].set_value([])
    at.sidebar.date_input[0].set_value([])
    at.run()
    nc = [r for r in records if r["state"] == "NC"]
    assert {m.label: m.value for m in at.metric}["Transactions"] == f"{len(nc):,}"


def test_state_map_holds_exact_figures_per_state(settings):
    records = states_records(900)
    build_spice(settings.spice_path, records)
    at = run_app()
    assert any(s.value == "Spending and fraud by state" for s in at.subheader)

    data = chart_data(at, "albersUsa").set_index("state")
    assert list(data.index) == sorted(
        STATES, key=lambda s: -amount_total([r for r in records if r["state"] == s])
    )
    for state in STATES:
        rows = [r for r in records if r["state"] == state]
        row = data.loc[state]
        fraud = sum(r["is_fraud"] for r in rows)
        assert int(row.transactions) == len(rows)
        assert f"{row.amount_total:.2f}" == f"{amount_total(rows):.2f}"
        assert int(row.fraud_count) == fraud
        assert row.fraud_rate == pytest.approx(fraud / len(rows), abs=1e-12)
        (a_lat, a_lon), (b_lat, b_lon) = STATE_POSITIONS[state]
        assert (row.lat, row.lon) == pytest.approx(((a_lat + b_lat) / 2, (a_lon + b_lon) / 2))


def test_card_drill_down_shows_one_cards_transactions_and_flags(settings):
    records = varied_records(1500)
    build_spice(settings.spice_path, records)
    at = run_app()
    assert any("Choose a card in the sidebar" in c.value for c in at.caption)
    picker = at.sidebar.selectbox[0]
    flags: dict[str, int] = {}
    for r in records:
        flags[r["card_token"]] = flags.get(r["card_token"], 0) + r["fraud_flagged"]
    most = max(flags.values())
    # The list shows masked cards only, the most flagged first.
    assert picker.options[0].startswith("•••• ") and f"· {most:,} flagged" in picker.options[0]
    assert not any(t in "".join(picker.options) for t in flags)

    token = next(t for t, n in sorted(flags.items()) if n == most)
    at.sidebar.text_input[0].input(token)
    at.run()
    assert not at.exception, at.exception
    card = [r for r in records if r["card_token"] == token]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Card"] == f"•••• {card[0]['card_last4']}"
    assert metrics["Card transactions"] == f"{len(card):,}"
    assert metrics["Card amount"] == f"${amount_total(card):,.2f}"
    assert metrics[CARD_FLAGGED_LABEL] == f"{most:,}"
    assert metrics["Card fraud (labelled)"] == f"{sum(r['is_fraud'] for r in card):,}"
    timeline = chart_data(at, '"flagged", "not flagged"')
    card.sort(key=lambda r: (r["event_time"], r["trans_num"]))
    assert [f"{a:.2f}" for a in timeline.amount] == [f"{r['amount']:.2f}" for r in card]
    assert list(timeline.flag) == ["flagged" if r["fraud_flagged"] else "not flagged" for r in card]
    assert list(timeline.model) == [r["model_version"] for r in card]


def test_choices_persist_while_new_data_changes_the_options(settings):
    records = states_records(600)
    build_spice(settings.spice_path, records)
    at = run_app()
    # What the browser sends: the chosen option's label.
    at.sidebar.selectbox[0].set_value(at.sidebar.selectbox[0].options[0])
    at.run()
    first_card = at.sidebar.selectbox[0].value
    state = next(r["state"] for r in records if r["card_token"] == first_card)
    at.sidebar.multiselect[1].set_value([state])
    at.run()

    # New records: a new state and new flags reorder the card list.
    more = records + [
        {**r, "trans_num": f"new{r['trans_num'][3:]}", "state": "WA", "fraud_flagged": 1}
        for r in states_records(900)[600:]
    ]
    build_spice(settings.spice_path, more)
    at.run()

    assert "WA" in at.sidebar.multiselect[1].options
    assert at.sidebar.multiselect[1].value == [state]
    assert at.sidebar.selectbox[0].value == first_card
    kept = [r for r in more if r["state"] == state]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Transactions"] == f"{len(kept):,}"
    # The drill-down follows the filters too: the card's transactions in that state.
    card = [r for r in kept if r["card_token"] == first_card]
    assert metrics["Card transactions"] == f"{len(card):,}"
    assert metrics["Card amount"] == f"${amount_total(card):,.2f}"
