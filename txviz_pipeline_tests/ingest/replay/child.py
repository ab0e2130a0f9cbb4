"""Run one replay as its own process (``python -m txviz_pipeline_tests.ingest.replay.child``),
so a test can SIGKILL it mid-way and resume it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from txviz_pipeline.ingest.replay.api import ReplayOptions, replay
from txviz_pipeline.settings import Settings


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


if __name__ == "__main__":
    main()
