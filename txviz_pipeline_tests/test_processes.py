"""Process groups started by ``processes.start_group``: own session, lower priority on request."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from txviz_pipeline.processes import start_group, stop_group


def nice_and_pgid(pid: int) -> tuple[int, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state, ppid, pgrp, ... priority (field 18), nice (field 19).
    return int(fields[16]), int(fields[2])


@pytest.mark.parametrize("nice", [0, 5])
def test_start_group_leads_its_own_group_at_the_priority_asked(nice: int, tmp_path: Path):
    own = os.nice(0)
    proc = start_group(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env=dict(os.environ),
        log_path=tmp_path / "log",
        nice=nice,
    )
    try:
        assert nice_and_pgid(proc.pid) == (own + nice, proc.pid)
    finally:
        assert stop_group(proc.pid, timeout=5)
        proc.wait(timeout=5)
