"""After SIGKILL of a replay's own process (not its group: a crash or an OOM kill), every process
it started (workers, the fork server, the resource tracker) exits by itself."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from txviz_pipeline.processes import pid_alive
from txviz_pipeline_tests.ingest.replay.child import start, wait_for_row
from txviz_pipeline_tests.ingest.replay.data import create_stream, write_dataset

ROWS = 6_000
# The product promises 2 s (about 0.1 s measured); the test holds it to that and prints the times.
GONE_WITHIN_S = 2.0


def parent_of(pid: int) -> int:
    # Field 4 of stat; the command name before it may hold spaces.
    return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])


def descendants(pid: int) -> dict[int, str]:
    """Every live process below ``pid`` (children, grandchildren, ...), with its command line."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parents.setdefault(parent_of(int(entry.name)), []).append(int(entry.name))
        except OSError:
            continue
    found: dict[int, str] = {}
    todo = list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            cmdline = (Path("/proc") / str(child) / "cmdline").read_bytes()
        except OSError:
            continue
        found[child] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        todo += parents.get(child, [])
    return found


def role(pid: int, cmdline: str, replay_pid: int) -> str:
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "forkserver" in cmdline:
        # The workers are forked from the fork server, so they carry its command line.
        return "fork server" if parent_of(pid) == replay_pid else "worker"
    return cmdline[:60]


@pytest.mark.integration
def test_sigkill_of_the_replay_leaves_no_process_behind(tmp_path, moto_settings):
    create_stream(moto_settings)
    dataset = write_dataset(tmp_path / "ds", ROWS, parts=3)
    log_path = tmp_path / "replay.log"
    log = log_path.open("wb")
    child = start(dataset, "orphans", log)
    tree: dict[int, str] = {}
    try:
        wait_for_row(child, moto_settings.checkpoint_dir / "orphans.json", 1_000, log_path)
        tree = descendants(child.pid)
        commands = " | ".join(tree.values())
        assert "forkserver" in commands and "resource_tracker" in commands, commands
        assert len(tree) >= 4, f"expected 2 workers and 2 helpers: {commands}"
        roles = {pid: f"{role(pid, cmd, child.pid)} {pid}" for pid, cmd in tree.items()}

        killed_at = time.monotonic()
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        alive = dict(tree)
        exit_s: dict[int, float] = {}
        while alive and time.monotonic() - killed_at < GONE_WITHIN_S:
            for pid in [p for p in alive if not pid_alive(p)]:
                exit_s[pid] = time.monotonic() - killed_at
                del alive[pid]
            time.sleep(0.02)
        assert not alive, f"still running {GONE_WITHIN_S:.0f} s after the kill: {alive}"
        print("seconds to exit after the kill:", {roles[p]: round(s, 2) for p, s in exit_s.items()})
    finally:
        for pid in [child.pid, *tree]:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        child.wait(timeout=10)
        log.close()
