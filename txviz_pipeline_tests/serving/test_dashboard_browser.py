"""The dashboard served by Streamlit and rendered by headless Chromium, like a user sees it."""

from __future__ import annotations

import os

import pytest

from txviz_pipeline.processes import free_port
from txviz_pipeline.serving.dashboard.launch import (
    dashboard_url,
    start_dashboard,
    stop_dashboard,
    wait_until_ready,
)
from txviz_pipeline.settings import REPO_ROOT, Settings
from txviz_pipeline_tests.compaction.records import varied_records
from txviz_pipeline_tests.serving.browser import Chromium
from txviz_pipeline_tests.serving.curated import amount_total
from txviz_pipeline_tests.serving.spice_files import build_spice

# `make screenshots` refreshes the README's picture; other runs keep theirs in a temp folder.
README_SCREENSHOT = REPO_ROOT / "docs" / "dashboard.png"
UPDATE_ENV = "TXVIZ_UPDATE_SCREENSHOTS"
# No rerun in flight: Streamlit fades stale elements and shows a status widget meanwhile.
SETTLED = (
    "document.querySelectorAll('[data-stale=\"true\"]').length == 0"
    " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
)
CHARTS = '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'


@pytest.mark.e2e
def test_dashboard_renders_exact_kpis_in_chromium(tmp_path):
    settings = Settings(home=tmp_path / "home")
    records = varied_records(6123)
    build_spice(settings.spice_path, records)
    screenshot = README_SCREENSHOT if os.environ.get(UPDATE_ENV) else tmp_path / "dashboard.png"
    port = free_port()
    proc = start_dashboard(settings, port)
    try:
        wait_until_ready(dashboard_url(port), proc=proc)
        with Chromium(width=1440, height=900) as browser:
            browser.open(dashboard_url(port))
            browser.wait_for("document.body && document.body.innerText.includes('Transactions')")
            browser.wait_for(f"document.querySelectorAll('{CHARTS}').length >= 5")
            browser.wait_for(SETTLED)
            tiles = browser.evaluate(
                "[...document.querySelectorAll('[data-testid=\"stMetric\"]')]"
                ".map(e => e.innerText.split('\\n').filter(Boolean))"
            )
            dom = browser.evaluate("document.documentElement.outerHTML")
            screenshot.parent.mkdir(exist_ok=True)
            browser.screenshot(screenshot, height=2300, settled=SETTLED)
    finally:
        stop_dashboard(proc)
    assert proc.poll() is not None
    values = {tile[0]: tile[-1] for tile in tiles}
    assert values["Transactions"] == "6,123"
    assert values["Amount"] == f"${amount_total(records):,.2f}"
    assert values["Fraud (labelled)"] == f"{sum(r['is_fraud'] for r in records):,}"
    assert "6,123" in dom
    assert screenshot.stat().st_size > 50_000
