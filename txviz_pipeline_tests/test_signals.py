"""SIGINT, SIGTERM and SIGHUP to ``txviz dashboard`` and ``txviz demo`` stop all they started.

Each test runs the real command, waits until its servers answer, records the whole process tree
(and its process groups) from /proc, signals the command and checks that nothing it started is
left and that its ports are free again.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from txviz_pipeline.processes import http_ok, pid_alive, port_in_use
from txviz_pipeline.settings import REPO_ROOT
from txviz_pipeline_tests.support.moto import free_port

SIGNALS = [signal.SIGTERM, signal.SIGHUP]
# Ctrl-C takes the same path; checked where it is cheap.
ALL_STOP_SIGNALS = [signal.SIGINT, *SIGNALS]


def _ppid_and_pgid(pid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), int(fields[2])


def process_tree(root: int) -> set[int]:
    """``root`` and every live descendant of it."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (ids := _ppid_and_pgid(int(entry))) is not None:
            parents[int(entry)] = ids[0]
    tree = {root}
    grown = True
    while grown:
        children = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        tree |= children
        grown = bool(children)
    return tree


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def txviz(args: list[str], home: Path, env: dict[str, str]) -> subprocess.Popen:
    """The command in a session of its own, so the test's own group is never signalled; its
    log (stderr) goes to a file, so a full pipe can never block it."""
    home.mkdir(parents=True)
    with open(home.parent / "txviz.stderr", "w") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "txviz_pipeline.cli", *args],
            env={**os.environ, "TXVIZ_HOME": str(home), **env},
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )


def wait_for_line(proc: subprocess.Popen, text: str, timeout: float) -> None:
    """Read the command's output until a line holds ``text``; fail if it exits or times out."""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if text in line:
                    return
                if not line and proc.poll() is not None:
                    pytest.fail(f"txviz exited with {proc.returncode}")
    pytest.fail(f"no line with {text!r} in {timeout:.0f}s")


@contextlib.contextmanager
def killed_on_exit(proc: subprocess.Popen) -> Iterator[set[int]]:
    """Yields a set the test fills with process groups; SIGKILLs them all at the end, so a
    failing test leaves nothing behind."""
    groups: set[int] = {proc.pid}
    try:
        yield groups
    finally:
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()


def signal_and_check(
    proc: subprocess.Popen, sig: signal.Signals, groups: set[int], ports, stderr: Path
) -> None:
    """Record the tree, send ``sig``, and check the command stopped all of it, then itself."""
    tree = process_tree(proc.pid)
    groups |= {ids[1] for pid in tree if (ids := _ppid_and_pgid(pid)) is not None}
    assert len(groups) >= 2, "the command started no server of its own"
    proc.send_signal(sig)
    status = proc.wait(timeout=120)
    log = stderr.read_text()
    assert status == 128 + sig, log
    assert f"txviz: stopped by {sig.name}" in log
    assert [pid for pid in tree if pid_alive(pid)] == []
    assert [pgid for pgid in groups if group_alive(pgid)] == []
    assert [port for port in ports if port_in_use(port)] == []


@pytest.mark.parametrize("sig", ALL_STOP_SIGNALS, ids=lambda s: s.name)
def test_dashboard_stops_streamlit_on_signal(sig: signal.Signals, tmp_path: Path) -> None:
    port = free_port()
    proc = txviz(["dashboard", "--port", str(port)], tmp_path / "home", {})
    with killed_on_exit(proc) as groups:
        wait_for_line(proc, "dashboard:", timeout=60)
        assert http_ok(f"http://127.0.0.1:{port}/_stcore/health")
        signal_and_check(proc, sig, groups, [port], tmp_path / "txviz.stderr")


@pytest.mark.e2e
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_demo_stops_stack_dagster_and_dashboard_on_signal(
    sig: signal.Signals, tmp_path: Path
) -> None:
    ports = {
        "TXVIZ_MOTO_PORT": free_port(),
        "TXVIZ_DAGSTER_PORT": free_port(),
        "TXVIZ_DASHBOARD_PORT": free_port(),
    }
    env = {name: str(port) for name, port in ports.items()}
    proc = txviz(["demo"], tmp_path / "home", env)
    with killed_on_exit(proc) as groups:
        # Printed once the servers answer and the replay run is launched.
        wait_for_line(proc, "stops everything", timeout=300)
        signal_and_check(proc, sig, groups, list(ports.values()), tmp_path / "txviz.stderr")
