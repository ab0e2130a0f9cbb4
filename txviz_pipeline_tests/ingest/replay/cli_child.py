"""``txviz replay`` as a real process against a moto server the test starts and can kill, stop
or restart: the fault tests' harness."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.processes import stop_group
from txviz_pipeline.settings import REPO_ROOT, Settings, embedded_env
from txviz_pipeline_tests.support.moto import create_plain_stream, start_moto_server

# 100-record batches at 1,000 records/s from 2 workers, checkpointed 5x/s: 20,000 rows take
# about 20 s, so a fault lands mid-way.
SLOW = [
    "--processes",
    "2",
    "--max-records-per-s",
    "1000",
    "--max-batch-records",
    "100",
    "--checkpoint-every-s",
    "0.2",
]


@dataclass
class Endpoint:
    """A moto server with the bucket and a plain delivery stream, on a fixed port."""

    port: int
    home: Path
    log: Path
    proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **embedded_env(self.port, home=self.home)}

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    def start(self) -> None:
        """A fresh server: a moto that was killed lost its state, so provision again."""
        self.proc = start_moto_server(self.port, self.log)
        create_plain_stream(self.settings)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGCONT)
            stop_group(self.proc.pid)
            self.proc.wait(timeout=10)
            self.proc = None


@contextlib.contextmanager
def endpoint(tmp_path: Path, port: int) -> Iterator[Endpoint]:
    """A moto endpoint, stopped (continued first if stopped) whatever the test does."""
    ep = Endpoint(port, tmp_path / "home", tmp_path / "moto.log")
    try:
        ep.start()
        yield ep
    finally:
        ep.stop()


def sample_csv(path: Path, rows: int) -> Path:
    generate_csv(path, rows=rows, seed=7)
    return path


def start_replay(ep: Endpoint, args: list[str], stderr: Path) -> subprocess.Popen:
    """``txviz replay ARGS`` in a session of its own (its group is its and its workers')."""
    with open(stderr, "ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "txviz_pipeline.cli", "replay", *args],
            env=ep.env,
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )


def checkpoint(ep: Endpoint, replay_id: str) -> dict | None:
    try:
        return json.loads((ep.settings.checkpoint_dir / f"{replay_id}.json").read_text())
    except FileNotFoundError:
        return None


def wait_for_row(proc: subprocess.Popen, ep: Endpoint, replay_id: str, row: int) -> int:
    """Wait until the replay's checkpoint passes ``row``; returns its watermark."""
    deadline = time.monotonic() + 120
    while (cp := checkpoint(ep, replay_id)) is None or cp["next_row"] < row:
        assert proc.poll() is None, f"replay exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "replay made no progress"
        time.sleep(0.05)
    return cp["next_row"]


def wait_for_text(path: Path, text: str, proc: subprocess.Popen, timeout: float) -> float:
    """Seconds until ``text`` appears in the file ``path``; fails after ``timeout``."""
    started = time.monotonic()
    while text not in path.read_text(errors="replace"):
        assert time.monotonic() - started < timeout, f"no {text!r} in {timeout:.0f} s"
        time.sleep(0.1)
    return time.monotonic() - started


def group_gone(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def kill_group(proc: subprocess.Popen) -> None:
    """Whatever is left of a replay's group, SIGKILLed (a failing test leaves nothing)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
