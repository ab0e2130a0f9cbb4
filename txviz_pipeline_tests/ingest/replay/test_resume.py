"""A replay killed with SIGKILL and started again with the same replay id delivers every row at
least once (the checkpoint is a low watermark: nothing below it is ever skipped or resent)."""

from __future__ import annotations

import os
import signal

import pytest

from txviz_pipeline.ingest.replay.api import ReplayOptions, replay
from txviz_pipeline.processes import stop_group
from txviz_pipeline_tests.ingest.replay.child import read_checkpoint, start, wait_for_row
from txviz_pipeline_tests.ingest.replay.data import create_stream, landed_row_ids, write_dataset

ROWS = 6_000


@pytest.mark.integration
def test_sigkill_mid_replay_then_resume_lands_every_row(tmp_path, moto_settings):
    create_stream(moto_settings)
    dataset = write_dataset(tmp_path / "ds", ROWS, parts=3)
    checkpoint_path = moto_settings.checkpoint_dir / "killed.json"
    log_path = tmp_path / "replay.log"
    log = log_path.open("wb")
    child = start(dataset, "killed", log)
    try:
        wait_for_row(child, checkpoint_path, 1_500, log_path)
        # The whole process group: the parent, its workers and the fork server, like a crash.
        os.killpg(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_group(child.pid)
        child.wait(timeout=10)
        log.close()

    watermark = read_checkpoint(checkpoint_path)["next_row"]
    assert 1_500 <= watermark < ROWS, "the kill must land mid-way"
    landed_before = landed_row_ids(moto_settings)
    assert set(range(watermark)) <= set(landed_before)

    result = replay(dataset, moto_settings, ReplayOptions(processes=2, replay_id="killed"))

    assert result.resumed_from_row == watermark
    assert result.rows == ROWS - watermark and result.failed == 0
    landed = landed_row_ids(moto_settings)
    missing = set(range(ROWS)) - set(landed)
    assert not missing, f"{len(missing)} rows never landed, e.g. {sorted(missing)[:10]}"
    assert set(landed) == set(range(ROWS))
    duplicates = {row: n for row, n in landed.items() if n > 1}
    # Below the watermark nothing is sent twice; above it at most once per run.
    assert all(row >= watermark for row in duplicates)
    assert max(landed.values()) <= 2
    print(
        f"killed at watermark {watermark}/{ROWS}; {sum(landed_before.values())} records had "
        f"landed; after resume {len(duplicates)} rows landed twice (at-least-once), 0 missing"
    )
    checkpoint = read_checkpoint(checkpoint_path)
    assert checkpoint["complete"] and checkpoint["next_row"] == ROWS and checkpoint["runs"] == 2
