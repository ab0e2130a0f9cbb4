"""``replay()``: send a dataset's rows to the delivery stream, resumably, and what it returns.

The parent cuts batches (``plan``), paces them in time-compressed mode (``schedule``), hands
them to the worker processes (``pool``, which send with ``send``), and keeps the low watermark
of acknowledged batches as the checkpoint (``progress``, ``checkpoint``) every
``checkpoint_every_s``. A replay killed at any instant and started again with the same
``replay_id`` restarts from the watermark: rows in flight at the kill are sent again
(at-least-once), no row is skipped. At the end a manifest (dataset, rows requested, row_id
range, counts) is written to ``s3://<bucket>/replays/<replay_id>/manifest.json`` for
reconciliation.

Firehose unreachable (``endpoint``) stops the replay with ``ReplayStopped``: the rows not yet
accepted stay above the saved watermark, never dead letters. State changes (started, stalled,
resumed, dead-lettered, stopped) go to ``on_event`` and into the result.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from txviz_pipeline.ingest.replay import pool as pool_module
from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, checkpoint_store
from txviz_pipeline.ingest.replay.endpoint import (
    STALL_AFTER_S,
    UNREACHABLE_AFTER_S,
    EndpointUnreachable,
    Reachability,
)
from txviz_pipeline.ingest.replay.errors import ReplayError, ReplayStopped
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.ingest.replay.parts import Part
from txviz_pipeline.ingest.replay.plan import (
    MAX_BATCH_BYTES,
    MAX_TAG_BYTES,
    BatchPlanner,
    Dataset,
)
from txviz_pipeline.ingest.replay.pool import Pool, WorkerSetup
from txviz_pipeline.ingest.replay.progress import ReplayEvent, ReplayProgress, Tracker
from txviz_pipeline.ingest.replay.ratelimit import Limits, RateLimiter
from txviz_pipeline.ingest.replay.schedule import Schedule
from txviz_pipeline.ingest.replay.send import RetryPolicy, replay_s3_client
from txviz_pipeline.settings import REPLAY_PREFIX, Settings

__all__ = [
    "ReplayError",
    "ReplayEvent",
    "ReplayOptions",
    "ReplayProgress",
    "ReplayResult",
    "ReplayStopped",
    "replay",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayResult:
    replay_id: str
    rows: int  # dataset rows handled in this run (sent + failed)
    bytes: int
    batches: int
    sent: int
    retried: int
    failed: int  # dead-lettered in this run
    permanent: int  # of those, records Firehose can never accept
    duration_s: float
    startup_s: float  # of duration_s, spent starting the worker processes
    records_per_s: float
    mib_per_s: float
    resumed_from_row: int
    dead_letter_key: str | None  # S3 prefix of this replay's dead-letter objects, if any failed
    dead_letter_local: tuple[str, ...]  # local copies written because S3 failed
    manifest_key: str
    checkpoint: str
    complete: bool  # every row of the replay accepted by Firehose (no dead letter left)
    dead_lettered: int  # rows of this replay in dead letters now, earlier runs included
    started_at: str  # when the first run of this replay began (UTC, ISO 8601)
    events: tuple[ReplayEvent, ...] = ()
    first_row: int = 0  # the first dataset row of this replay (a part's range starts there)
    stream: str = ""  # the delivery stream it sent to


def new_replay_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def replay(
    dataset_dir: Path,
    settings: Settings,
    options: ReplayOptions | None = None,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    *,
    client_factory: Callable[[Settings], Any] | None = None,
    on_event: Callable[[ReplayEvent], None] | None = None,
    unreachable_after_s: float = UNREACHABLE_AFTER_S,
) -> ReplayResult:
    """Send the dataset's rows to the settings' delivery stream; resumes a known replay_id.
    With ``options.parts``, send part ``options.part`` only (see ``parts``).

    ``client_factory`` builds each worker's Firehose client instead of the default one; it must
    be picklable (a module-level function). Raises ``ReplayStopped`` if Firehose stays
    unreachable for ``unreachable_after_s``.
    """
    options = options or ReplayOptions()
    clock = time.monotonic
    dataset = Dataset.open(dataset_dir)
    try:
        part = Part.of(options.part, options.parts, options.limits(), settings)
        replay_id = part.replay_id(options.replay_id or new_replay_id())
    except ValueError as exc:
        raise ReplayError(str(exc)) from None
    settings = replace(settings, delivery_stream=part.stream)
    s3 = replay_s3_client(settings)
    store = checkpoint_store(options.checkpoint_store, settings, s3)
    first_row, end_row = part.rows(
        dataset.rows if options.rows is None else min(options.rows, dataset.rows)
    )

    checkpoint = store.load(replay_id) if options.resume else None
    if checkpoint is not None and (
        checkpoint.dataset_rows != dataset.rows
        or checkpoint.dataset_fingerprint not in ("", dataset.fingerprint)
    ):
        raise ReplayError(
            f"replay {replay_id!r} was started on another dataset ({checkpoint.dataset}, "
            f"{checkpoint.dataset_rows:,} rows) than {dataset.path} ({dataset.rows:,} rows); "
            "use a new replay id or resume=False to start over"
        )
    if checkpoint is None:
        checkpoint = Checkpoint(replay_id, str(dataset.path), dataset.rows, next_row=first_row)
    start_row = max(checkpoint.next_row, first_row)
    checkpoint.rows_limit = options.rows
    checkpoint.dataset = str(dataset.path)
    checkpoint.dataset_fingerprint = dataset.fingerprint
    checkpoint.runs += 1
    checkpoint.complete = False
    checkpoint.stopped = None
    checkpoint.started_at = checkpoint.started_at or datetime.now(UTC).isoformat(timespec="seconds")
    logger.info(
        "replay %s: rows %d..%d of %s to %s (%s); checkpoint %s",
        replay_id,
        start_row,
        end_row,
        dataset.path,
        settings.delivery_stream,
        f"speed x{options.speed}" if options.speed else "as fast as possible",
        store.describe(replay_id),
    )

    tracker = Tracker(
        checkpoint,
        store,
        end_row,
        checkpoint_every_s=options.checkpoint_every_s,
        progress_every_s=options.progress_every_s,
        on_progress=on_progress,
        clock=clock,
        on_event=on_event,
        stall_after_s=stall_after(part.limits),
    )
    tracker.event(
        "resumed" if start_row > first_row else "started",
        f"replay {replay_id}: rows {start_row:,}..{end_row:,} of {dataset.path}",
    )
    planner = BatchPlanner(
        dataset,
        start_row,
        end_row,
        max_records=part.batch_records(options.max_batch_records, _record_bytes(dataset)),
        speed=options.speed,
        max_lead_s=options.max_lead_s,
    )
    startup_s = 0.0
    if start_row < end_row:
        # Not fork: it would copy the locks of the parent's threads (Dagster runs several). The
        # fork server imports the workers' module once and forks them from that clean process,
        # which starts N workers about N times faster than spawn on a small machine.
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload([pool_module.__name__])
        setup = WorkerSetup(
            settings=settings,
            replay_id=replay_id,
            retry=RetryPolicy(options.max_attempts, options.backoff_base_s, options.backoff_cap_s),
            limiter=RateLimiter.shared(part.limits, ctx),
            reach=Reachability.shared(unreachable_after_s, ctx),
            client_factory=client_factory,
        )
        pool = Pool(options.processes or os.cpu_count() or 1, setup, ctx)
        try:
            startup_s = _run(planner, tracker, pool, options.speed)
        except EndpointUnreachable as exc:
            if checkpoint.first_row_id is None:  # not the last: batches were cut past the watermark
                checkpoint.first_row_id = planner.first_row_id
            raise _stopped(tracker, store, end_row, str(exc)) from None
    _note_row_ids(checkpoint, planner)
    checkpoint.complete = checkpoint.done(end_row)
    tracker.tick(force=True)

    duration = max(clock() - tracker.started, 1e-9)
    dl_prefix = checkpoint.dead_letter_prefix
    manifest_key = f"{REPLAY_PREFIX}{replay_id}/manifest.json"
    manifest = manifest_of(dataset.manifest, options, checkpoint, start_row, end_row)
    manifest.update(first_row=first_row, part=part.number, parts=part.parts, stream=part.stream)
    manifest["limits"] = asdict(part.limits)
    try:
        s3.put_object(
            Bucket=settings.bucket,
            Key=manifest_key,
            Body=json.dumps(manifest, indent=2).encode(),
            ContentType="application/json",
        )
    except Exception as exc:  # every row is accounted for in the checkpoint all the same
        logger.warning("manifest s3://%s/%s not written (%s)", settings.bucket, manifest_key, exc)
    result = ReplayResult(
        replay_id=replay_id,
        rows=tracker.rows,
        bytes=tracker.bytes,
        batches=tracker.batches,
        sent=tracker.sent,
        retried=tracker.retried,
        failed=tracker.failed,
        permanent=tracker.permanent,
        duration_s=duration,
        startup_s=startup_s,
        records_per_s=tracker.rows / duration,
        mib_per_s=tracker.bytes / duration / 2**20,
        resumed_from_row=start_row,
        dead_letter_key=dl_prefix,
        dead_letter_local=tuple(tracker.dead_letter_local),
        manifest_key=manifest_key,
        checkpoint=store.describe(replay_id),
        complete=checkpoint.complete,
        dead_lettered=checkpoint.dead_lettered,
        started_at=checkpoint.started_at,
        events=tuple(tracker.events),
        first_row=first_row,
        stream=part.stream,
    )
    logger.info(
        "replay %s: %d rows (%d sent, %d retried, %d failed) in %.1f s, %.0f rec/s",
        replay_id,
        result.rows,
        result.sent,
        result.retried,
        result.failed,
        duration,
        result.records_per_s,
    )
    return result


def _record_bytes(dataset: Dataset) -> float:
    """Average bytes a record: from the manifest, with room for the replay_id tag."""
    rows, nbytes = dataset.rows, dataset.manifest.get("bytes")
    return nbytes / rows + MAX_TAG_BYTES if rows and isinstance(nbytes, int) else 0.0


def _note_row_ids(checkpoint: Checkpoint, planner: BatchPlanner) -> None:
    if checkpoint.first_row_id is None:
        checkpoint.first_row_id = planner.first_row_id
    if planner.last_row_id is not None:
        checkpoint.last_row_id = planner.last_row_id


def stall_after(limits: Limits) -> float:
    """Seconds without an acknowledgement that make a replay stalled: ``STALL_AFTER_S``, or
    three full batches' time under rate limits so low that a batch takes longer."""
    records, nbytes, requests = limits.rates
    batch_s = max(
        500 / records if records else 0.0,
        MAX_BATCH_BYTES / nbytes if nbytes else 0.0,
        1 / requests if requests else 0.0,
    )
    return max(STALL_AFTER_S, 3 * batch_s)


def _stopped(tracker: Tracker, store: Any, end_row: int, reason: str) -> ReplayStopped:
    """Record why the replay stopped early (the checkpoint keeps the watermark) and say so."""
    cp = tracker.checkpoint
    cp.stopped = reason
    cp.complete = False
    tracker.event("stopped", f"{reason}; stopped at row {cp.next_row:,} of {end_row:,}")
    try:
        tracker.save()
    except Exception as exc:  # an S3 checkpoint on the unreachable endpoint: the last save stands
        logger.warning("checkpoint %s not saved (%s)", store.describe(cp.replay_id), exc)
    return ReplayStopped(
        reason,
        replay_id=cp.replay_id,
        rows_done=cp.next_row,
        rows_total=end_row,
        dead_lettered=cp.dead_lettered,
        events=list(tracker.events),
    )


def _run(planner: BatchPlanner, tracker: Tracker, pool: Pool, speed: float | None) -> float:
    """Send every batch and wait for its acknowledgement; returns the workers' start-up time."""

    def serve(timeout: float) -> None:
        pool.poll(timeout, tracker.on_result)
        if tracker.down:
            down = tracker.down
            raise EndpointUnreachable(down.endpoint, down.down_s, down.cause)
        if tracker.fatal:
            raise ReplayError(tracker.fatal)
        tracker.tick()

    # While a batch waits for its time, the parent keeps handling acknowledgements.
    schedule = Schedule(speed, clock=tracker.clock, sleep=serve)
    try:
        pool.wait_ready()
        startup_s = tracker.clock() - tracker.started
        for batch in planner:
            if schedule.speed is not None:
                schedule.wait(batch.event_time)
            tracker.dispatched(batch.seq, batch.first_row, batch.end_row)
            pool.submit(batch, serve)
            serve(0.0)
        pool.finish()
        while tracker.watermark.outstanding:
            exited = pool.all_exited()
            serve(0.2)
            pool.check_alive()
            if exited and tracker.watermark.outstanding:
                raise ReplayError(
                    f"replay workers exited with {tracker.watermark.outstanding} batches "
                    "unacknowledged"
                )
        return startup_s
    finally:
        pool.close()
        # The watermark only ever covers acknowledged batches, so saving it is always safe.
        try:
            tracker.save()
        except Exception as exc:
            logger.warning("checkpoint not saved (%s)", exc)


def manifest_of(
    dataset_manifest: dict[str, Any],
    options: ReplayOptions,
    cp: Checkpoint,
    start_row: int,
    end_row: int,
) -> dict[str, Any]:
    """The replay's manifest for reconciliation: what it covered and where its rows went."""
    return {
        "replay_id": cp.replay_id,
        "dataset": cp.dataset,
        "dataset_source": dataset_manifest.get("source"),
        "dataset_rows": cp.dataset_rows,
        "first_event_time": dataset_manifest.get("first_event_time"),
        "last_event_time": dataset_manifest.get("last_event_time"),
        "rows_requested": cp.rows_limit,
        "rows": cp.next_row,  # rows first_row..rows-1 were accepted or dead-lettered
        "first_row_id": cp.first_row_id,
        "last_row_id": cp.last_row_id,
        "complete": cp.complete,
        "sent": cp.sent,
        "retried": cp.retried,
        "failed": cp.failed,
        "dead_lettered": cp.dead_lettered,
        "permanent": cp.permanent,
        "resent": cp.resent,
        "dead_letter_local": cp.dead_letter_local,
        "batches": cp.batches,
        "runs": cp.runs,
        "last_run_from_row": start_row,
        "last_run_to_row": end_row,
        "speed": options.speed,
        "limits": asdict(options.limits()),
        "dead_letter_prefix": cp.dead_letter_prefix,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
