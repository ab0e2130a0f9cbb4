"""No clear card number, street or birth date at rest past the source CSV.

A CSV with every kind of bad row mixed in (conversion rejects, processor refusals, a card number
in the wrong shape, a row too large for Firehose) is checked with ``txviz validate`` and replayed
from the launchpad through the whole embedded pipeline. Then every S3 object (base64 payloads
decoded) and every file txviz wrote is searched for the source's card numbers, streets and
birth dates. Only the source CSV and its private NDJSON staging may hold them.
"""

import csv
import subprocess
import sys
import time

import pytest

from txviz_pipeline import aws, orchestrator
from txviz_pipeline_tests.support.card_data import Needles, scan_bucket, scan_files
from txviz_pipeline_tests.support.e2e import (
    DEADLINE_S,
    latest_check,
    wait_for_run,
    wait_for_spice_rows,
)
from txviz_pipeline_tests.test_end_to_end import (
    CONVERSION_REJECTS,
    PROCESSOR_FAILURES,
    write_csv_with_bad_rows,
)

pytestmark = pytest.mark.e2e

ROWS = 300
OVERSIZED_ROW = 120  # past Firehose's 1,000 KiB record limit
GROUPED_CARD_ROW = 130  # "4652-1234-…": not a card number the processor accepts
STREET_IN_STATE_ROW = 140  # a street where the state belongs


def write_source(path):
    write_csv_with_bad_rows(path, rows=ROWS)
    lines = list(csv.reader(path.open(newline="")))
    column = {name: i for i, name in enumerate(lines[0])}
    lines[OVERSIZED_ROW + 1][column["merchant"]] = "m" * (1100 * 1024)
    card = lines[GROUPED_CARD_ROW + 1][column["cc_num"]]
    lines[GROUPED_CARD_ROW + 1][column["cc_num"]] = "-".join(
        card[i : i + 4] for i in range(0, len(card), 4)
    )
    street = lines[STREET_IN_STATE_ROW + 1][column["street"]]
    lines[STREET_IN_STATE_ROW + 1][column["state"]] = street
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)


def test_no_card_data_at_rest_past_the_source(pipeline):
    settings, port, env = pipeline
    deadline = time.monotonic() + DEADLINE_S
    source = settings.home / "incoming" / "card-data.csv"
    source.parent.mkdir()
    write_source(source)
    needles = Needles.from_csv(source)
    # The needles are real: every one of them is in the source.
    assert len(needles.find(str(source), source.read_bytes())) >= 3 * ROWS // 2

    # What the CLI prints about the bad rows names lines and fields, never their values.
    check = subprocess.run(
        [sys.executable, "-m", "txviz_pipeline.cli", "validate", str(source)],
        capture_output=True,
        env=env,
        timeout=120,
    )
    assert check.returncode != 0, "the bad rows were not reported"
    assert b"line" in check.stdout + check.stderr
    printed = needles.find("txviz validate", check.stdout + check.stderr)

    replay_id = "card-data-e2e"
    run_id = orchestrator.launch_replay(port, str(source), {"replay_id": replay_id})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"
    evaluation = latest_check(
        orchestrator.dagster_home(settings), "firehose_replay", "replay_reconciles"
    )
    meta = {k: v.value for k, v in evaluation.metadata.items()}
    assert evaluation.passed and meta["missing"] == 0, evaluation.description
    # Every kind of bad row took its route: conversion rejects the grouped card number with the
    # unreadable rows, the oversized row is a permanent dead letter, and the street in `state` is
    # quarantined with the processor's refusals.
    dataset = settings.ndjson_dir / source.stem
    rejects = (dataset / "rejects.ndjson").read_text().splitlines()
    assert len(rejects) == len(CONVERSION_REJECTS) + 2
    assert meta["dead_lettered"] == 1
    assert meta["quarantined"] == len(PROCESSOR_FAILURES) + 1
    landed = meta["landed_ok"]
    assert wait_for_spice_rows(settings, port, landed, deadline) == landed

    s3 = aws.client("s3", settings)
    searched, stored = scan_bucket(needles, s3, settings.bucket)
    prefixes = {key.split("/")[0] for key in _keys(s3, settings.bucket)}
    assert {"landing", "quarantine", "errors", "curated"} <= prefixes, prefixes
    staging = [source, *dataset.glob("part-*.ndjson")]
    written = scan_files(needles, settings.home, skip=staging)

    findings = printed + stored + written
    assert searched > 0
    assert not findings, "\n".join(map(str, findings[:20]))


def _keys(s3, bucket):
    from txviz_pipeline.s3objects import iter_keys

    return list(iter_keys(s3, bucket, ""))
