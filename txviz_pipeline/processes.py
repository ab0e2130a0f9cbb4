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
from collections.abc import Iterator, Sequence
from pathlib import Path

from txviz_pipeline.settings import LOCALHOST

log = logging.getLogger(__name__)


# The signals that ask a txviz command to stop: Ctrl-C, `kill`, and the terminal closing.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """A stop signal arrived; like KeyboardInterrupt, ``except Exception`` does not catch it."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_status(self) -> int:
        """The shell's convention for a command ended by a signal."""
        return 128 + self.signum


def _ignore_stop_signals() -> dict[int, object]:
    return {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}


def _restore(previous: dict[int, object]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _raise_stopped(signum: int, frame) -> None:
    # Raise once: the clean-up this starts must not be cut short by the next signal.
    _ignore_stop_signals()
    raise Stopped(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP raise :class:`Stopped` in the main thread,
    so the ``finally`` clean-up that stops the servers runs, and runs once."""
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        _restore(previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ignore stop signals within the block: for clean-up that must finish once begun."""
    previous = _ignore_stop_signals()
    try:
        yield
    finally:
        _restore(previous)


def _reset_sigint() -> None:
    # A process started from a background shell inherits SIGINT as ignored, and `dagster dev`
    # then ignores SIGTERM too (it forwards it as SIGINT): restore the default before exec.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _reset_sigint_and_nice(increment: int):
    def prepare() -> None:
        _reset_sigint()
        os.nice(increment)

    return prepare


def start_group(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    log_path: Path,
    cwd: Path | None = None,
    nice: int = 0,
) -> subprocess.Popen:
    """Start ``argv`` as the leader of a new process group, output appended to ``log_path``.

    ``nice`` > 0 lowers the CPU priority of the group (inherited by all it starts)."""
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
            preexec_fn=_reset_sigint_and_nice(nice) if nice else _reset_sigint,
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
