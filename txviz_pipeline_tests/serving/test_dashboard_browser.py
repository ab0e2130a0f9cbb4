"""The dashboard served by Streamlit and rendered by headless Chromium (Playwright), like a user
sees it: exact KPI figures, every chart drawn with one mark per data point, the tables' rows."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from txviz_pipeline.processes import stop_group
from txviz_pipeline.serving.dashboard.app import FLAGGED_TITLE
from txviz_pipeline.serving.dashboard.flags import FLAGGED_LABEL
from txviz_pipeline.serving.dashboard.launch import dashboard_url, start_dashboard, wait_until_ready
from txviz_pipeline.serving.queries import (
    LATEST_FLAGGED_LIMIT,
    MINUTES_SHOWN,
    REASONS_SEPARATOR,
    TOP_MERCHANTS_LIMIT,
)
from txviz_pipeline.settings import REPO_ROOT, Settings
from txviz_pipeline_tests.serving.curated import amount_total
from txviz_pipeline_tests.serving.spice_files import STATES, build_spice, states_records
from txviz_pipeline_tests.support.moto import free_port

pytestmark = pytest.mark.e2e

# `make screenshots` refreshes the README's picture; other runs keep theirs in a temp folder.
README_SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
UPDATE_ENV = "TXVIZ_UPDATE_SCREENSHOTS"
# Tall enough for every panel, so the screenshot shows the whole page without scrolling.
VIEWPORT = {"width": 1440, "height": 3200}
# Debian's chromium as it is; Playwright's own browser download is not needed.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROWS = 6123
PANELS = [
    "Amount by category",
    "Spending and fraud by state",
    "Volume and amount per minute",
    "Fraud rate by hour of day",
    "Top merchants by fraud",
    "Fraud rate by age band",
    "Daily amount by gender",
    "Daily amount by age band",
    FLAGGED_TITLE,
    "Card drill-down",
]
CHART = '[data-testid="stVegaLiteChart"]'
# No rerun in flight: Streamlit fades stale elements and shows a status widget meanwhile.
SETTLED = (
    "document.querySelectorAll('[data-stale=\"true\"]').length == 0"
    " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
)
# Per chart, in page order: how many bars and lines vega drew into its SVG (data marks only,
# not the legend's gradient).
MARKS = f"""[...document.querySelectorAll('{CHART} svg.marks')].map(svg => ({{
    bars: svg.querySelectorAll('g.mark-rect.role-mark path').length,
    lines: svg.querySelectorAll('g.mark-line.role-mark path').length,
    symbols: svg.querySelectorAll('g.mark-symbol.role-mark path').length,
}}))"""
# Per dataframe, its accessible grid (glide-data-grid draws on a canvas and mirrors it here).
TABLES = """[...document.querySelectorAll('[data-testid="stDataFrame"] table[role="grid"]')]
    .map(t => ({
        rows: Number(t.getAttribute('aria-rowcount')) - 1,
        header: [...t.querySelectorAll('th')].map(th => th.innerText),
        cells: [...t.querySelectorAll('tbody tr')].map(
            tr => [...tr.querySelectorAll('td')].map(td => td.innerText)),
    }))"""


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return states_records(ROWS)


@pytest.fixture(scope="module")
def page(records, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    """The dashboard over a SPICE of ``records``, open in Chromium and settled."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium not found: install Debian's chromium package (make test does)")
    settings = Settings(home=tmp_path_factory.mktemp("dashboard") / "home")
    build_spice(settings.spice_path, records)
    port = free_port()
    proc = start_dashboard(settings, port)
    try:
        wait_until_ready(port, proc=proc)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.goto(dashboard_url(port))
                page.wait_for_function(
                    f"document.querySelectorAll('{CHART} svg.marks').length >= 5"
                    " && document.querySelectorAll('[data-testid=\"stDataFrame\"] table').length"
                    " >= 2",
                    timeout=60_000,
                )
                page.wait_for_function(SETTLED, timeout=60_000)
                yield page
            finally:
                browser.close()
    finally:
        stop_group(proc.pid)
        proc.wait(timeout=10)


def test_kpi_tiles_show_the_exact_figures(page: Page, records):
    tiles = [
        [line for line in text.split("\n") if line]
        for text in page.get_by_test_id("stMetric").all_inner_texts()
    ]
    values = {tile[0]: tile[-1] for tile in tiles}
    fraud = sum(r["is_fraud"] for r in records)
    assert values == {
        "Transactions": f"{ROWS:,}",
        "Amount": f"${amount_total(records):,.2f}",
        "Fraud (labelled)": f"{fraud:,}",
        "Fraud rate": f"{fraud / ROWS:.2%}",
        FLAGGED_LABEL: f"{flagged(records):,}",
        "Cards": f"{len({r['card_token'] for r in records}):,}",
    }


def test_every_panel_is_shown_without_errors(page: Page):
    assert page.locator("h3").all_inner_texts() == PANELS
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlert").count() == 0


def test_every_chart_draws_one_mark_per_data_point(page: Page, records):
    category, states, minute, hour, merchants, age, gender, band = page.evaluate(MARKS)[:8]
    assert category == {"bars": len({r["category"] for r in records}), "lines": 0, "symbols": 0}
    # One circle per state on the offline map.
    assert states == {"bars": 0, "lines": 0, "symbols": len(STATES)}
    minutes = min(MINUTES_SHOWN, len({r["event_time"][:16] for r in records}))
    assert minute == {"bars": minutes, "lines": 1, "symbols": 0}
    assert hour == {"bars": len({r["hour"] for r in records}), "lines": 0, "symbols": 0}
    fraud_merchants = {r["merchant"] for r in records if r["is_fraud"]}
    top = min(TOP_MERCHANTS_LIMIT, len(fraud_merchants))
    assert merchants == {"bars": top, "lines": 0, "symbols": 0}
    assert age == {"bars": len({r["age_band"] for r in records}), "lines": 0, "symbols": 0}
    # One line per group, one point per (day, group).
    for chart, column in ((gender, "gender"), (band, "age_band")):
        groups = {r[column] for r in records}
        points = {(r["event_time"][:10], r[column]) for r in records}
        assert chart == {"bars": 0, "lines": len(groups), "symbols": len(points)}


def test_category_table_sums_the_data(page: Page, records):
    by_category, _ = page.evaluate(TABLES)
    expected: dict[str, list[Decimal]] = {}
    for r in records:
        expected.setdefault(r["category"], []).append(Decimal(str(r["amount"])))
    assert by_category["header"][:3] == ["Category", "Transactions", "Amount"]
    assert by_category["rows"] == len(expected)
    # The grid mirrors only the rows it has drawn; all of them fit the tall viewport.
    shown = {row[0]: (int(row[1]), Decimal(row[2])) for row in by_category["cells"]}
    assert shown == {c: (len(a), sum(a, Decimal(0))) for c, a in expected.items()}


def test_flagged_table_lists_masked_cards_only(page: Page, records):
    _, latest = page.evaluate(TABLES)
    assert latest["rows"] == min(LATEST_FLAGGED_LIMIT, flagged(records))
    # The model's verdict comes first, where the page has room for it.
    assert latest["header"][:8] == [
        "New",
        "Processed (UTC)",
        "Card",
        "Amount",
        "Score",
        "Model",
        "Reasons",
        "Label",
    ]
    cards = [row[latest["header"].index("Card")] for row in latest["cells"]]
    assert cards and all(c.startswith("•••• ") and c[5:].isdigit() and len(c) == 9 for c in cards)
    html = page.content()
    assert not [r["card_token"] for r in records if r["card_token"] in html]


def test_flagged_table_shows_each_rows_score_model_and_reasons(page: Page, records):
    _, latest = page.evaluate(TABLES)
    header = latest["header"]
    shown = [
        (
            float(row[header.index("Score")]),
            row[header.index("Model")],
            row[header.index("Reasons")],
        )
        for row in latest["cells"]
    ]
    # Newest first by processing time (all equal here), then by event time.
    newest = sorted(
        (r for r in records if r["fraud_flagged"]),
        key=lambda r: (r["event_time"], r["trans_num"]),
        reverse=True,
    )[: len(shown)]
    assert shown == [
        (r["fraud_score"], r["model_version"], REASONS_SEPARATOR.join(r["fraud_reasons"]))
        for r in newest
    ]
    # Flagged by each model's own threshold: every score shown is under 0.5.
    assert shown and all(score < 0.5 for score, _, _ in shown)


def test_screenshot_of_the_whole_page(page: Page, tmp_path: Path):
    screenshot = README_SCREENSHOT if os.environ.get(UPDATE_ENV) else tmp_path / "dashboard.png"
    page.screenshot(path=screenshot)
    # A page of six panels and six tiles; a blank or error page compresses to a few KB.
    assert screenshot.stat().st_size > 50_000


def test_card_drill_down_draws_the_cards_timeline(page: Page, records):
    """Last: it changes the page (a card chosen in the sidebar)."""
    token = records[0]["card_token"]
    card = [r for r in records if r["card_token"] == token]
    charts = page.locator(f"{CHART} svg.marks").count()
    page.get_by_label("…or a card token").fill(token)
    page.get_by_label("…or a card token").press("Enter")
    page.wait_for_function(
        f"document.querySelectorAll('{CHART} svg.marks').length == {charts + 1}", timeout=30_000
    )
    page.wait_for_function(SETTLED, timeout=30_000)
    timeline = page.evaluate(MARKS)[-1]
    assert timeline == {"bars": 0, "lines": 1, "symbols": len(card)}
    tiles = page.get_by_test_id("stMetric").all_inner_texts()
    assert any(t.startswith("Card\n") and f"•••• {card[0]['card_last4']}" in t for t in tiles)
    # The token is only in the viewer's own (password) input, never in what the page draws.
    assert token not in page.locator("main").inner_text()


def test_state_filter_narrows_the_tiles_and_the_map(page: Page, records):
    """Last: it changes the page (a state chosen in the sidebar)."""
    kept = [r for r in records if r["state"] == "TX"]
    box = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").nth(1)
    box.click()
    page.keyboard.type("TX")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=\"stCaptionContainer\"]')]"
        ".some(c => c.innerText.startsWith('Filtered: states TX'))",
        timeout=30_000,
    )
    page.wait_for_function(SETTLED, timeout=30_000)
    tiles = [t.split("\n") for t in page.get_by_test_id("stMetric").all_inner_texts()]
    values = {t[0]: [line for line in t if line][-1] for t in tiles}
    assert values["Transactions"] == f"{len(kept):,}"
    assert values["Amount"] == f"${amount_total(kept):,.2f}"
    assert page.evaluate(MARKS)[1] == {"bars": 0, "lines": 0, "symbols": 1}


def flagged(records: list[dict[str, Any]]) -> int:
    return sum(r["fraud_flagged"] for r in records)
