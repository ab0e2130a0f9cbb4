"""Run one replay as its own process (``python -m txviz_pipeline_tests.ingest.replay.child``),
so a test can SIGKILL it mid-way and resume it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from txviz_pipeline.ingest.replay.api import ReplayOptions, replay
from txviz_pipeline.settings import REPO_ROOT, Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("replay_id")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--records-per-s", type=float, default=None)
    parser.add_argument("--batch-records", type=int, default=500)
    parser.add_argument("--checkpoint-every-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    replay(
        args.dataset,
        Settings.from_env(),
        ReplayOptions(
            processes=args.processes,
            replay_id=args.replay_id,
            max_records_per_s=args.records_per_s,
            max_batch_records=args.batch_records,
            checkpoint_every_s=args.checkpoint_every_s,
        ),
    )


def start(dataset: Path, replay_id: str, log: IO[bytes]) -> subprocess.Popen:
    """Start a slow replay in its own session: 100-record batches at 600 records/s from 2
    workers, checkpointed 5x/s, so a 6,000-row dataset takes about ten seconds to send."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "txviz_pipeline_tests.ingest.replay.child",
            str(dataset),
            replay_id,
            "--processes",
            "2",
            "--records-per-s",
            "600",
            "--batch-records",
            "100",
            "--checkpoint-every-s",
            "0.2",
        ],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )


def read_checkpoint(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def wait_for_row(child: subprocess.Popen, checkpoint_path: Path, row: int, log_path: Path) -> None:
    """Return once the child's checkpoint has passed ``row``; raise if it exits or stalls."""
    deadline = time.monotonic() + 180
    while (cp := read_checkpoint(checkpoint_path)) is None or cp["next_row"] < row:
        if child.poll() is not None:
            raise AssertionError(f"replay exited early: {log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError("replay made no progress")
        time.sleep(0.05)


if __name__ == "__main__":
    main()
