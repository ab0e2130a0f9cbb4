"""Starting and stopping the local servers txviz runs (moto, Dagster, the dashboard).

Every server starts in its own session, so it and all its children form one process group
that is stopped as a unit, and only that group is signalled.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from txviz_pipeline.settings import LOCALHOST

log = logging.getLogger(__name__)


def _reset_sigint() -> None:
    # A process started from a background shell inherits SIGINT as ignored, and `dagster dev`
    # then ignores SIGTERM too (it forwards it as SIGINT): restore the default before exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_group(
    argv: Sequence[str], *, env: dict[str, str], log_path: Path, cwd: Path | None = None
) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new process group, output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_reset_sigint,
        )


def stop_group(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM the process group led by ``pid``, SIGKILL it after ``timeout``; wait until it is
    gone. False if there was no such group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return sig is signal.SIGKILL
        if _wait_group_gone(pid, timeout):
            return True
        log.warning("process group %d ignored %s", pid, sig.name)
    raise RuntimeError(f"process group {pid} survived SIGKILL")


def _wait_group_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return True
        _reap(pid)
        time.sleep(0.05)
    return False


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def pid_alive(pid: int) -> bool:
    """True if ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # Field 3 is the state; the command name before it may hold spaces, hence rsplit.
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def port_in_use(port: int, host: str = LOCALHOST) -> bool:
    """True if something listens on ``host:port`` or the port cannot be bound."""
    with socket.socket() as s:
        s.settimeout(1.0)
        if s.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def http_ok(url: str) -> bool:
    """True if a GET of ``url`` answers with a 2xx status within 2 s."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:  # refused, timed out, or an HTTP error status
        return False


def wait_for_http(
    url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None, log_path=None
) -> None:
    """Wait until ``url`` answers; fail early, quoting the log, if ``proc`` dies first."""
    deadline = time.monotonic() + timeout
    while not http_ok(url):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"{proc.args[0]} exited with {proc.returncode} before {url} answered"
                f"{_log_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout:.0f}s{_log_tail(log_path)}")
        time.sleep(0.1)


def _log_tail(log_path, lines: int = 20) -> str:
    if not log_path or not Path(log_path).exists():
        return ""
    tail = Path(log_path).read_text(errors="replace").splitlines()[-lines:]
    return f"; last lines of {log_path}:\n" + "\n".join(tail)
