"""Every part of a replay at once on this machine: one process per part, as ``txviz replay
--parts N`` runs them (on AWS each part is a Dagster run of its own, see defs/ingest/parts.py).

The part processes share nothing but the dataset on disk: each has its own limiter at its
share of its stream's quota, its own workers and its own checkpoint, exactly as on separate
machines, so what passes here passes there.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.settings import Settings

# A part that ends reports within this long of its process exiting.
_REPORT_WAIT_S = 10.0


def part_options(options: ReplayOptions, base_replay_id: str) -> list[ReplayOptions]:
    """One set of options per part, all under ``base_replay_id``."""
    values = {name: getattr(options, name) for name in ReplayOptions.model_fields}
    values["replay_id"] = options.replay_id or base_replay_id
    return [ReplayOptions(**{**values, "part": i}) for i in range(1, options.parts + 1)]


def _run_part(
    dataset: str, settings: Settings, options: ReplayOptions, results: Any, factory: Any
) -> None:
    from txviz_pipeline.ingest.replay.api import replay

    try:
        result = replay(Path(dataset), settings, options, client_factory=factory)
    except Exception as exc:  # reported by part, so the other parts' results still show
        # As a plain ReplayError: every exception pickles that way.
        results.put((options.part, ReplayError(f"{exc}")))
    else:
        results.put((options.part, result))


def replay_parts(
    dataset: Path,
    settings: Settings,
    options: ReplayOptions,
    base_replay_id: str,
    *,
    client_factory: Callable[[Settings], Any] | None = None,
) -> dict[int, Any]:
    """Run every part in its own process and wait for all; returns, by part number, its
    ``ReplayResult`` or the exception that ended it."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = {
        opts.part: ctx.Process(
            target=_run_part,
            args=(str(dataset), settings, opts, results, client_factory),
            name=f"replay-part-{opts.part}",
        )
        for opts in part_options(options, base_replay_id)
    }
    for proc in procs.values():
        proc.start()
    done: dict[int, Any] = {}
    try:
        while len(done) < len(procs):
            try:
                number, outcome = results.get(timeout=1.0)
                done[number] = outcome
            except queue.Empty:
                for number, proc in procs.items():
                    if number not in done and proc.exitcode is not None:
                        proc.join(_REPORT_WAIT_S)
                        _drain(results, done)
                        done.setdefault(
                            number,
                            ReplayError(f"part {number} exited with status {proc.exitcode}"),
                        )
    finally:
        for proc in procs.values():
            proc.join(_REPORT_WAIT_S)
            if proc.is_alive():
                proc.terminate()
                proc.join(_REPORT_WAIT_S)
    return done


def _drain(results: Any, done: dict[int, Any]) -> None:
    while True:
        try:
            number, outcome = results.get_nowait()
        except queue.Empty:
            return
        done[number] = outcome
