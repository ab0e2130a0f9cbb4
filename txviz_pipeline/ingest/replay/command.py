"""``txviz replay``: convert a CSV and replay it, or resend a replay's dead letters, with a
progress bar; it ends in one line that says what happened and what to do next.

Exit status: 0 every row accepted by Firehose; 1 stopped before the end (Firehose unreachable,
or an error no retry fixes), resumable; 3 finished, but dead letters are left (resend them with
``--resend-dead-letters``). Bad options (2) and signals (128 + the signal) are ``txviz``'s own.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from txviz_pipeline.ingest.replay.errors import ReplayError, ReplayStopped
from txviz_pipeline.ingest.replay.options import ReplayOptions, options_from_cli
from txviz_pipeline.ingest.replay.progress import WARNING_EVENTS, ReplayEvent
from txviz_pipeline.redact import scrub
from txviz_pipeline.settings import Settings

EXIT_OK = 0
EXIT_STOPPED = 1
EXIT_DEAD_LETTERS = 3
MAX_MESSAGE_CHARS = 400

log = logging.getLogger("txviz.replay")


def options_of(args: argparse.Namespace) -> ReplayOptions:
    """The replay's options from its flags, checked (ValueError) before anything runs."""
    if args.path is None and not args.resend_dead_letters:
        raise ValueError("give a CSV to replay, or --resend-dead-letters REPLAY_ID")
    if args.path is not None and args.resend_dead_letters:
        raise ValueError(
            "--resend-dead-letters resends rows from the dataset that replay used: give no CSV"
        )
    stem = args.path.stem if args.path is not None else "resend"
    return options_from_cli(args, f"{stem}-{time.strftime('%Y%m%dT%H%M%S')}")


def say(message: str, *, cap: bool = False) -> None:
    """The command's last word, one line on stderr; ``cap`` a message quoting others (AWS, a
    worker) at ``MAX_MESSAGE_CHARS``."""
    text = " ".join(message.split())
    if cap and len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 1] + "…"
    print(f"txviz replay: {text}", file=sys.stderr, flush=True)


def log_event(event: ReplayEvent) -> None:
    level = logging.WARNING if event.kind in WARNING_EVENTS else logging.INFO
    log.log(level, "%s", event.message)


def run_replay(settings: Settings, path: Path | None, options: ReplayOptions) -> int:
    try:
        if options.resend_dead_letters:
            return _resend(settings, options)
        assert path is not None
        return _replay(settings, path, options)
    except ReplayStopped as exc:
        say(exc.describe(f"resume with txviz replay {path} --replay-id {exc.replay_id}"))
        return EXIT_STOPPED
    except ReplayError as exc:
        say(str(exc), cap=True)
        return EXIT_STOPPED
    except (BotoCoreError, ClientError) as exc:  # S3 (a checkpoint, a listing) failed
        say(f"stopped: AWS said {type(exc).__name__}: {scrub(str(exc))}", cap=True)
        return EXIT_STOPPED


def dead_letter_place(settings: Settings, prefix: str | None, local: tuple[str, ...]) -> str:
    places = [f"s3://{settings.bucket}/{prefix}"] if prefix else []
    if local:
        places.append(f"{len(local):,} local files under {settings.dead_letter_dir}")
    return " and ".join(places) or "nowhere"


def _replay(settings: Settings, path: Path, options: ReplayOptions) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
    from txviz_pipeline.ingest.csvsource.allocator import keep_freed_memory
    from txviz_pipeline.ingest.replay.api import replay

    dataset = settings.ndjson_dir / path.stem
    keep_freed_memory()  # the command's own process, so the allocator may be tuned for it
    conversion = convert_csv_to_ndjson(path, dataset)
    print(f"converted {conversion.rows_out:,} rows ({conversion.rejected:,} rejected) to {dataset}")
    if options.parts > 1 and options.part is None:
        return _replay_parts(settings, dataset, options)
    columns = [
        TextColumn("replay"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows {task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns) as bar:
        task = bar.add_task("replay", total=options.rows or conversion.rows_out, rate="")

        def on_progress(p) -> None:
            rate = p.describe() or f"{p.records_per_s:,.0f} rec/s {p.mib_per_s:.2f} MiB/s"
            bar.update(task, completed=p.rows_done, total=p.rows_total, rate=rate)

        result = replay(dataset, settings, options, on_progress, on_event=log_event)
    print(
        f"replay {result.replay_id}: {result.rows:,} rows in {result.duration_s:.1f}s "
        f"({result.records_per_s:,.0f} rec/s, {result.mib_per_s:.2f} MiB/s), "
        f"{result.retried:,} retried, {result.failed:,} dead-lettered"
    )
    if result.dead_lettered:
        place = dead_letter_place(settings, result.dead_letter_key, result.dead_letter_local)
        say(
            f"replay {result.replay_id} ended with {result.dead_lettered:,} rows in dead letters "
            f"({_permanent(result.permanent)}) in {place}; resend them with "
            f"txviz replay --resend-dead-letters {result.replay_id}"
        )
        return EXIT_DEAD_LETTERS
    return EXIT_OK


def _replay_parts(settings: Settings, dataset: Path, options: ReplayOptions) -> int:
    """Every part at once, one process each; one line per part, then the worst outcome."""
    from txviz_pipeline.ingest.replay.fanout import replay_parts
    from txviz_pipeline.ingest.replay.parts import part_replay_id

    assert options.replay_id is not None  # options_of names every replay
    print(f"replay {options.replay_id}: {options.parts} parts, one process each")
    outcomes = replay_parts(dataset, settings, options, options.replay_id)
    status = EXIT_OK
    for number, outcome in sorted(outcomes.items()):
        name = part_replay_id(options.replay_id, number, options.parts)
        if isinstance(outcome, Exception):
            say(
                f"part {number} ({name}) stopped: {outcome}; resume it with the same CSV and "
                f"--replay-id {options.replay_id} --parts {options.parts} --part {number}"
            )
            status = EXIT_STOPPED
            continue
        print(
            f"part {number} ({name}, rows {outcome.first_row:,}..) to {outcome.stream}: "
            f"{outcome.rows:,} rows in {outcome.duration_s:.1f}s "
            f"({outcome.mib_per_s:.2f} MiB/s), {outcome.dead_lettered:,} in dead letters"
        )
        if outcome.dead_lettered and status == EXIT_OK:
            status = EXIT_DEAD_LETTERS
    if status == EXIT_DEAD_LETTERS:
        say("dead letters are left: resend each part's with --resend-dead-letters <its name>")
    return status


def _permanent(n: int) -> str:
    return f"{n:,} permanent: Firehose can never accept them" if n else "none permanent"


def _resend(settings: Settings, options: ReplayOptions) -> int:
    from txviz_pipeline.ingest.replay.resend import resend_dead_letters

    result = resend_dead_letters(settings, options, on_event=log_event)
    line = (
        f"replay {result.replay_id}: {result.resent:,} dead letters resent and accepted, "
        f"{result.still_failing:,} still failing, {result.permanent:,} permanent skipped"
    )
    if not result.remaining:
        print(f"txviz replay: {line}; no dead letters left")
        return EXIT_OK
    place = dead_letter_place(settings, result.dead_letter_prefix, result.local_files)
    say(f"{line}; {result.remaining:,} left in {place}")
    return EXIT_DEAD_LETTERS
