"""The whole pipeline with its real processes: moto server (the embedded AWS), the Dagster
webserver and daemon, a replay launched over GraphQL as the launchpad does, the landing sensor,
compaction and the SPICE refresh, and finally the dashboard's own figures against the CSV."""

import os
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from txviz_pipeline import orchestrator
from txviz_pipeline.demo import spice_row_count
from txviz_pipeline.processes import free_port, stop_group
from txviz_pipeline.settings import REPO_ROOT, Settings
from txviz_pipeline.stack import control

pytestmark = pytest.mark.e2e

SAMPLE = REPO_ROOT / "data" / "sample.csv"
APP = REPO_ROOT / "txviz_pipeline" / "serving" / "dashboard" / "app.py"
DEADLINE_S = 420


def expected_from_csv(path: Path) -> dict:
    frame = pd.read_csv(path, dtype={"amt": str, "cc_num": str}, keep_default_na=False)
    amounts = frame["amt"].map(Decimal)
    by_category = amounts.groupby(frame["category"]).sum()
    return {
        "rows": len(frame),
        "fraud": int(frame["is_fraud"].astype(int).sum()),
        "amount": sum(amounts, Decimal("0")),
        "by_category": {k: v.quantize(Decimal("0.01")) for k, v in by_category.items()},
    }


@pytest.fixture
def pipeline(tmp_path):
    """Embedded stack + `dagster dev` on free ports, in a fresh home; all stopped afterwards."""
    home = tmp_path / "txviz-home"
    stack = control.up(port=free_port(), home=home)
    dagster = None
    try:
        env = {**os.environ, **stack.env, "TXVIZ_HOME": str(home)}
        settings = Settings.from_env(env)
        port = free_port()
        dagster = orchestrator.start_dagster(settings, port, env)
        orchestrator.wait_for_dagster(port, dagster, settings, timeout=180)
        yield settings, port, env
    finally:
        if dagster is not None:
            stop_group(dagster.pid)
        control.down(home)


def wait_for_run(port: int, run_id: str, deadline: float) -> str:
    from dagster import DagsterRunStatus

    client = orchestrator.graphql_client(port)
    while time.monotonic() < deadline:
        status = client.get_run_status(run_id)
        if status in (
            DagsterRunStatus.SUCCESS,
            DagsterRunStatus.FAILURE,
            DagsterRunStatus.CANCELED,
        ):
            return status.value
        time.sleep(2)
    raise AssertionError(f"run {run_id} did not finish in time")


def dashboard_figures(env: dict[str, str]) -> tuple[dict[str, str], pd.DataFrame]:
    """Run the dashboard app headless and read what it shows."""
    from streamlit.testing.v1 import AppTest

    old = os.environ.get("TXVIZ_HOME")
    os.environ["TXVIZ_HOME"] = env["TXVIZ_HOME"]
    try:
        app = AppTest.from_file(str(APP), default_timeout=60).run()
    finally:
        if old is None:
            os.environ.pop("TXVIZ_HOME")
        else:
            os.environ["TXVIZ_HOME"] = old
    assert not app.exception, app.exception
    metrics = {m.label: m.value for m in app.metric}
    tables = [df.value for df in app.dataframe if "category" in df.value.columns]
    assert tables, "the dashboard shows no per-category table"
    return metrics, tables[0]


def test_csv_to_dashboard_reconciles_exactly(pipeline):
    settings, port, env = pipeline
    expected = expected_from_csv(SAMPLE)
    deadline = time.monotonic() + DEADLINE_S

    run_id = orchestrator.launch_replay(port, str(SAMPLE), {"processes": 2})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"

    # The sensor sees the landed objects, the landing job checks and compacts each hour, and
    # the compaction sensor refreshes the local SPICE; wait until it holds every row.
    rows = 0
    while time.monotonic() < deadline:
        rows = spice_row_count(settings.spice_path)
        if rows >= expected["rows"]:
            break
        assert not orchestrator.failed_runs(port), "a pipeline run failed"
        time.sleep(2)
    assert rows == expected["rows"], f"SPICE holds {rows} of {expected['rows']} rows"

    metrics, by_category = dashboard_figures(env)
    assert metrics["Transactions"].replace(",", "") == str(expected["rows"])
    assert metrics["Fraud (labelled)"].replace(",", "") == str(expected["fraud"])
    shown = {
        row["category"]: Decimal(str(row["amount_total"])).quantize(Decimal("0.01"))
        for _, row in by_category.iterrows()
    }
    assert shown == expected["by_category"]
