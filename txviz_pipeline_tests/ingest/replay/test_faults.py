"""``txviz replay`` against a real moto server that dies, hangs (SIGSTOP), or comes back, and
against stop signals: it stops within a minute in one line, loses nothing, and a resume sends
exactly the rest."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from txviz_pipeline_tests.ingest.replay.cli_child import (
    SLOW,
    checkpoint,
    endpoint,
    group_gone,
    kill_group,
    sample_csv,
    start_replay,
    wait_for_row,
    wait_for_text,
)
from txviz_pipeline_tests.ingest.replay.data import landed_row_ids
from txviz_pipeline_tests.support.moto import free_port

ROWS = 20_000
STOPS_WITHIN_S = 60.0
STALL_SEEN_WITHIN_S = 30.0


def closing_line(stderr: Path) -> str:
    """The replay's last word: exactly one ``txviz replay:`` line, and no traceback."""
    log = stderr.read_text()
    assert "Traceback" not in log, log
    (line,) = [x for x in log.splitlines() if x.startswith("txviz replay: ")]
    return line


def resume(ep, csv: Path, replay_id: str, stderr: Path) -> int:
    proc = start_replay(ep, [str(csv), "--replay-id", replay_id, "--processes", "2"], stderr)
    try:
        return proc.wait(timeout=120)
    finally:
        kill_group(proc)


@pytest.mark.e2e
def test_endpoint_killed_mid_replay_stops_in_one_line_and_a_resume_sends_the_rest(tmp_path):
    csv = sample_csv(tmp_path / "t.csv", ROWS)
    stderr = tmp_path / "replay.stderr"
    with endpoint(tmp_path, free_port()) as ep:
        proc = start_replay(ep, [str(csv), "--replay-id", "killed", *SLOW], stderr)
        try:
            seen = wait_for_row(proc, ep, "killed", 3_000)
            before = landed_row_ids(ep.settings)
            ep.stop()
            killed_at = time.monotonic()
            status = proc.wait(timeout=120)
            took = time.monotonic() - killed_at
        finally:
            kill_group(proc)
        line = closing_line(stderr)
        print(f"stopped {took:.1f} s after the kill: {line}")
        assert status == 1 and took < STOPS_WITHIN_S
        cp = checkpoint(ep, "killed")
        watermark = cp["next_row"]
        assert seen <= watermark < ROWS and not cp["complete"]
        assert (cp["dead_lettered"], cp["failed"], cp["dead_letter_local"]) == (0, 0, [])
        assert not ep.settings.dead_letter_dir.exists()
        assert set(range(seen)) <= set(before)
        assert line == (
            f"txviz replay: cannot reach Firehose at http://127.0.0.1:{ep.port} for "
            f"{line.split(' for ')[1].split(' s ')[0]} s (connection refused); stopped. "
            f"{watermark:,} of {ROWS:,} rows are sent; nothing was lost: resume with "
            f"txviz replay {csv} --replay-id killed"
        )

        ep.start()  # a fresh moto: it lost everything, so what lands now is the resume's
        assert resume(ep, csv, "killed", tmp_path / "resume.stderr") == 0
        landed = landed_row_ids(ep.settings)
        assert sorted(landed) == list(range(watermark, ROWS)) and set(landed.values()) == {1}
        cp = checkpoint(ep, "killed")
        assert cp["complete"] and cp["next_row"] == ROWS and cp["runs"] == 2


@pytest.mark.e2e
def test_hung_endpoint_is_reported_stalled_then_stops_and_loses_nothing(tmp_path):
    csv = sample_csv(tmp_path / "t.csv", ROWS)
    stderr = tmp_path / "replay.stderr"
    with endpoint(tmp_path, free_port()) as ep:
        proc = start_replay(ep, [str(csv), "--replay-id", "hung", *SLOW], stderr)
        try:
            wait_for_row(proc, ep, "hung", 3_000)
            os.killpg(ep.proc.pid, signal.SIGSTOP)
            hung_at = time.monotonic()
            stall_s = wait_for_text(stderr, "stalled: no batch acknowledged for", proc, 30)
            status = proc.wait(timeout=120)
            took = time.monotonic() - hung_at
        finally:
            os.killpg(ep.proc.pid, signal.SIGCONT)
            kill_group(proc)
        line = closing_line(stderr)
        print(f"stalled reported after {stall_s:.1f} s, stopped after {took:.1f} s: {line}")
        assert stall_s < STALL_SEEN_WITHIN_S and status == 1 and took < STOPS_WITHIN_S
        assert f"cannot reach Firehose at http://127.0.0.1:{ep.port} for " in line
        assert "(no answer within 10 s)" in line or "(no connection within 5 s)" in line
        cp = checkpoint(ep, "hung")
        watermark = cp["next_row"]
        assert watermark < ROWS and not cp["complete"] and cp["dead_lettered"] == 0
        # The server kept its state: every row below the watermark is there.
        assert set(range(watermark)) <= set(landed_row_ids(ep.settings))

        assert resume(ep, csv, "hung", tmp_path / "resume.stderr") == 0
        landed = landed_row_ids(ep.settings)
        assert set(landed) == set(range(ROWS))
        # At least once: only rows in flight at the hang may land twice.
        assert all(n == 1 for row, n in landed.items() if row < watermark)
        assert checkpoint(ep, "hung")["complete"]


@pytest.mark.e2e
def test_endpoint_that_hangs_and_comes_back_is_reported_stalled_then_resumed(tmp_path):
    csv = sample_csv(tmp_path / "t.csv", 8_000)
    stderr = tmp_path / "replay.stderr"
    with endpoint(tmp_path, free_port()) as ep:
        proc = start_replay(ep, [str(csv), "--replay-id", "paused", *SLOW], stderr)
        try:
            wait_for_row(proc, ep, "paused", 2_000)
            os.killpg(ep.proc.pid, signal.SIGSTOP)
            wait_for_text(stderr, "stalled: no batch acknowledged for", proc, 30)
            os.killpg(ep.proc.pid, signal.SIGCONT)
            status = proc.wait(timeout=120)
        finally:
            os.killpg(ep.proc.pid, signal.SIGCONT)
            kill_group(proc)
        log = stderr.read_text()
        assert status == 0 and "Traceback" not in log, log
        assert "batches acknowledged again after" in log
        assert set(landed_row_ids(ep.settings)) == set(range(8_000))
        assert checkpoint(ep, "paused")["complete"]


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[2]) == pgid:
                        members.append(int(entry))
            except OSError:
                continue
    return members


@pytest.mark.e2e
@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name
)
def test_stop_signal_ends_the_replay_and_every_worker_and_it_resumes(sig, tmp_path):
    rows = 6_000
    csv = sample_csv(tmp_path / "t.csv", rows)
    stderr = tmp_path / "replay.stderr"
    with endpoint(tmp_path, free_port()) as ep:
        proc = start_replay(ep, [str(csv), "--replay-id", "signalled", *SLOW], stderr)
        try:
            wait_for_row(proc, ep, "signalled", 1_000)
            # The replay, the fork server, two workers and the resource tracker.
            assert len(group_members(proc.pid)) >= 5
            proc.send_signal(sig)
            status = proc.wait(timeout=30)
            gone = group_gone(proc.pid, 10)
        finally:
            kill_group(proc)
        log = stderr.read_text()
        assert status == 128 + sig and gone, (group_members(proc.pid), log)
        assert f"txviz: stopped by {sig.name}" in log and "Traceback" not in log
        cp = checkpoint(ep, "signalled")
        watermark = cp["next_row"]
        assert 1_000 <= watermark < rows and not cp["complete"]

        assert resume(ep, csv, "signalled", tmp_path / "resume.stderr") == 0
        landed = landed_row_ids(ep.settings)
        assert set(landed) == set(range(rows))
        assert all(n == 1 for row, n in landed.items() if row < watermark)
