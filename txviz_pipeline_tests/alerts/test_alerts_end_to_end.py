"""Data-quality alerts with the real daemon: a replay whose rows the processor refuses by the
third raises one alert that reaches the SQS queue subscribed to the alerts topic; a clean replay
raises none; a second failing evaluation within the cool-down raises no second alert."""

import csv
import time
from pathlib import Path

import dagster as dg
import pytest

from txviz_pipeline import orchestrator
from txviz_pipeline.alerts.store import open_alerts
from txviz_pipeline_tests.support.alerts import queue_url, receive
from txviz_pipeline_tests.support.e2e import DEADLINE_S, wait_for_run

pytestmark = pytest.mark.e2e

ASSET = "landing_transactions"
CHECK = "bad_record_rate_below_threshold"
ROWS = 60
# The check's sensor ticks every 10 s; a tick that found nothing would have had this long.
QUIET_S = 25


def write_csv(path: Path, seed: int, refuse_every: int | None) -> int:
    """A generated CSV; every ``refuse_every``-th row has a gender the processor refuses.
    Returns the number of refused rows."""
    from txviz_pipeline.generator.sparkov import generate_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    generate_csv(path, rows=ROWS, seed=seed)
    lines = list(csv.reader(path.open(newline="")))
    gender = lines[0].index("gender")
    refused = 0
    for i, line in enumerate(lines[1:]):
        if refuse_every and i % refuse_every == 0:
            line[gender] = "X"
            refused += 1
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return refused


def data_quality(settings, queue: str, wait_s: float, *, first: bool = False) -> list[dict]:
    """The data-quality alerts that reach the queue within ``wait_s`` (or until the ``first``).
    The fraud sensor may alert on the same generated data: that is its job, not this test's."""
    found: list[dict] = []
    end = time.monotonic() + wait_s
    while time.monotonic() < end and not (first and found):
        messages = receive(settings, queue, wait_s=min(5.0, max(0.0, end - time.monotonic())))
        found += [m for m in messages if m["attributes"]["kind"] == "data_quality"]
    return found


def figures_of(body: str) -> dict[str, str]:
    """The "Figures:" lines of an alert's body, name -> value as written."""
    section = body.split("\nFigures:\n", 1)[1].split("\n\n", 1)[0]
    return dict(line.strip().split(": ", 1) for line in section.splitlines())


def evaluations(settings) -> list:
    """The check's executions that have been evaluated, newest first."""
    with dg.DagsterInstance.from_config(str(orchestrator.dagster_home(settings))) as instance:
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(ASSET), CHECK), limit=50
        )
    return [r for r in records if r.status.value in ("SUCCEEDED", "FAILED")]


def replay_and_wait_for_check(settings, port, source: Path, deadline: float):
    """Replay ``source`` and wait for the landing run that evaluates the check on its rows."""
    before = len(evaluations(settings))
    run_id = orchestrator.launch_replay(port, str(source), {"replay_id": source.stem})
    assert wait_for_run(port, run_id, deadline) == "SUCCESS"
    while time.monotonic() < deadline:
        found = evaluations(settings)
        if len(found) > before:
            return found[0]
        assert not orchestrator.failed_runs(port), "a pipeline run failed"
        time.sleep(1)
    raise AssertionError("no landing run evaluated the check in time")


def test_refused_rows_raise_one_alert_on_the_topic_and_repeats_wait(pipeline):
    settings, port, _env = pipeline
    deadline = time.monotonic() + DEADLINE_S
    queue = queue_url(settings)
    incoming = settings.home / "incoming"

    assert write_csv(incoming / "clean.csv", seed=11, refuse_every=None) == 0
    clean = replay_and_wait_for_check(settings, port, incoming / "clean.csv", deadline)
    assert clean.event.dagster_event.event_specific_data.passed
    assert data_quality(settings, queue, QUIET_S) == [], "a clean replay alerted"

    refused = write_csv(incoming / "refused.csv", seed=12, refuse_every=3)
    assert refused == ROWS // 3
    failing = replay_and_wait_for_check(settings, port, incoming / "refused.csv", deadline)
    evaluation = failing.event.dagster_event.event_specific_data
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.WARN
    messages = data_quality(settings, queue, 60, first=True)
    received_at = time.time()
    (message,) = messages
    partition = message["attributes"]["partition"]
    assert message["attributes"] == {
        "severity": "WARN",
        "kind": "data_quality",
        "asset": ASSET,
        "check": CHECK,
        "partition": partition,
        "status": "open",
    }
    # The clean and the refused replay share the hour unless it turned in between.
    figures = figures_of(message["Message"])
    assert figures["bad_records"] == str(refused), message["Message"]
    assert figures["threshold"] == "0.05"
    rates = [round(refused / (2 * ROWS), 5), round(refused / ROWS, 5)]
    assert float(figures["bad_record_rate"]) in rates, message["Message"]
    assert f"/runs/{failing.run_id}" in message["Message"]
    delay = float(message["sent_timestamp"]) - failing.event.timestamp
    print(f"alert delay: failed evaluation -> SQS {delay:.1f} s (received {received_at:.0f})")
    assert delay < 120, "upper bound: the sensor runs every 10 s"
    assert [a["key"] for a in open_alerts(settings)] == [f"check:{ASSET}:{CHECK}:{partition}"]

    # A second replay with refused rows in the same hour: the check fails again, no alert.
    write_csv(incoming / "refused-again.csv", seed=13, refuse_every=3)
    again = replay_and_wait_for_check(settings, port, incoming / "refused-again.csv", deadline)
    assert not again.event.dagster_event.event_specific_data.passed
    assert data_quality(settings, queue, QUIET_S) == [], "a repeat alerted"
