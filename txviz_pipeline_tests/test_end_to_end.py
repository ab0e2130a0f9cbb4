"""The whole pipeline with its real processes: moto server (the embedded AWS), the Dagster
webserver and daemon, a replay launched over GraphQL as the launchpad does, the landing sensor,
compaction and the SPICE refresh, and finally the dashboard's own figures against the CSV."""

import csv
import json
import os
import time
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from txviz_pipeline import aws, orchestrator
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import REPO_ROOT
from txviz_pipeline_tests.support.card_data import Needles, scan_bucket
from txviz_pipeline_tests.support.e2e import (
    DEADLINE_S,
    latest_check,
    wait_for_run,
    wait_for_spice_rows,
)

pytestmark = pytest.mark.e2e

SAMPLE = REPO_ROOT / "data" / "sample.csv"
APP = REPO_ROOT / "txviz_pipeline" / "serving" / "dashboard" / "app.py"


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
    rows = wait_for_spice_rows(settings, port, expected["rows"], deadline)
    assert rows == expected["rows"], f"SPICE holds {rows} of {expected['rows']} rows"

    metrics, by_category = dashboard_figures(env)
    assert metrics["Transactions"].replace(",", "") == str(expected["rows"])
    assert metrics["Fraud (labelled)"].replace(",", "") == str(expected["fraud"])
    shown = {
        row["category"]: Decimal(str(row["amount_total"])).quantize(Decimal("0.01"))
        for _, row in by_category.iterrows()
    }
    assert shown == expected["by_category"]


# Bad rows mixed into a generated CSV, by the stage that must catch them.
CONVERSION_REJECTS = {
    10: ("amt", "abc"),
    20: ("category", "casino"),
    40: ("lat", "123.5"),
    110: ("trans_date_trans_time", "2019-13-45 00:00:00"),
}
SHORT_ROW = 30  # a row with three fields missing
PROCESSOR_FAILURES = {
    50: ("gender", "X", "gender must be 'M' or 'F'"),
    60: ("cc_num", "1234567890", "cc_num must be 11-19 digits"),
    70: ("dob", "2030-01-01", "dob is after the transaction"),
    80: ("amt", "-5.00", "is negative"),
    90: ("amt", "99999999", "is over 50,000"),
    100: ("state", "North Carolina", "state is not two capital letters"),
}


def write_csv_with_bad_rows(path: Path, rows: int = 300) -> dict[int, dict[str, str]]:
    """Write the CSV; return the processor-refused rows as written (by row_id)."""
    from txviz_pipeline.generator.sparkov import generate_csv

    generate_csv(path, rows=rows, seed=7)
    lines = list(csv.reader(path.open(newline="")))
    column = {name: i for i, name in enumerate(lines[0])}
    for row, (name, value) in CONVERSION_REJECTS.items():
        lines[row + 1][column[name]] = value
    for row, (name, value, _reason) in PROCESSOR_FAILURES.items():
        lines[row + 1][column[name]] = value
    lines[SHORT_ROW + 1] = lines[SHORT_ROW + 1][:-3]
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return {row: dict(zip(lines[0], lines[row + 1], strict=True)) for row in PROCESSOR_FAILURES}


def test_bad_rows_are_routed_with_reasons_and_the_replay_reconciles(pipeline):
    settings, port, env = pipeline
    deadline = time.monotonic() + DEADLINE_S
    # The launchpad reads only data folders; TXVIZ_HOME is one of them.
    source = settings.home / "incoming" / "with-bad-rows.csv"
    source.parent.mkdir()
    refused = write_csv_with_bad_rows(source)

    replay_id = "bad-rows-e2e"
    run_id = orchestrator.launch_replay(port, str(source), {"replay_id": replay_id})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"

    # Conversion routed its rejects with reasons; nothing else was lost before Firehose.
    dataset = settings.ndjson_dir / source.stem
    rejects = [json.loads(line) for line in (dataset / "rejects.ndjson").open()]
    assert len(rejects) == len(CONVERSION_REJECTS) + 1
    assert all(r["reason"] for r in rejects)

    # The blocking reconciliation check passed:
    # sent = landed Ok + quarantined + processing-failed + dropped.
    evaluation = latest_check(
        orchestrator.dagster_home(settings), "firehose_replay", "replay_reconciles"
    )
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert evaluation.passed, evaluation.description
    sent = 300 - len(rejects)
    landed = sent - len(PROCESSOR_FAILURES)
    assert (meta["sent"], meta["processing_failed"], meta["dropped"]) == (sent, 0, 0)
    assert meta["landed_ok"] == landed
    assert meta["missing"] == 0
    assert (
        f"sent = {landed} Ok + {len(PROCESSOR_FAILURES)} quarantined + 0 processing-failed + "
        "0 dropped"
    ) in evaluation.description

    # The processor's refusals are quarantined, redacted, with their reasons; nothing raw is
    # written under errors/.
    s3 = aws.client("s3", settings)
    quarantined = {}
    for key in iter_keys(s3, settings.bucket, "quarantine/"):
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        for line in body.splitlines():
            kept = json.loads(line)
            if kept.get("replay_id") == replay_id:
                quarantined[kept["row_id"]] = kept
    assert sorted(quarantined) == sorted(PROCESSOR_FAILURES)
    for row, (_name, _value, reason) in PROCESSOR_FAILURES.items():
        kept = quarantined[row]
        assert reason in kept["reason"], kept
        assert not {"cc_num", "first", "last", "street", "dob"} & kept.keys()
        assert kept["trans_num"] == refused[row]["trans_num"]
    assert list(iter_keys(s3, settings.bucket, "errors/processing-failed/")) == []
    # No S3 object holds a card number, street or birth date of the source.
    searched, stored = scan_bucket(Needles.from_csv(source), s3, settings.bucket)
    assert searched > 0 and not stored, "\n".join(map(str, stored[:20]))

    # Only the good rows reach SPICE.
    expected = meta["landed_ok"]
    assert wait_for_spice_rows(settings, port, expected, deadline) == expected
