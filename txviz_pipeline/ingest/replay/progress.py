"""What a replay has done so far: acknowledged batches, counts, checkpoint saves and progress
reports, paced by their own intervals, and the replay's state changes as events (stalled,
resumed, dead-lettered, stopped) for the caller's log and the run's metadata."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, CheckpointStore, Watermark
from txviz_pipeline.ingest.replay.deadletters import dead_letter_prefix
from txviz_pipeline.ingest.replay.endpoint import STALL_AFTER_S
from txviz_pipeline.ingest.replay.pool import EndpointDown, Result, WorkerFailed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReplayProgress:
    rows_done: int  # dataset rows acknowledged (sent or dead-lettered), resumed rows included
    rows_total: int  # rows this replay covers
    bytes_done: int  # record bytes acknowledged in this run
    elapsed_s: float
    records_per_s: float
    mib_per_s: float
    eta_s: float | None
    retried: int
    failed: int
    stalled_s: float | None = None  # no batch acknowledged this long while batches are out

    def describe(self) -> str:
        """The progress line's state: empty while batches are acknowledged."""
        if self.stalled_s is None:
            return ""
        return f"stalled: no batch acknowledged for {self.stalled_s:.0f} s"


# The state changes an operator should look at.
WARNING_EVENTS = frozenset({"stalled", "stopped", "dead-lettered"})


@dataclass(frozen=True)
class ReplayEvent:
    """A change of a replay's state: started, stalled, resumed, dead-lettered, stopped, ..."""

    kind: str
    message: str
    at: str  # UTC, ISO 8601

    @classmethod
    def now(cls, kind: str, message: str) -> ReplayEvent:
        return cls(kind, message, datetime.now(UTC).isoformat(timespec="seconds"))


class Tracker:
    """Acknowledgements, the low watermark, counts, checkpoints and progress."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        store: CheckpointStore,
        rows_total: int,
        *,
        checkpoint_every_s: float,
        progress_every_s: float,
        on_progress: Callable[[ReplayProgress], None] | None,
        clock: Callable[[], float],
        on_event: Callable[[ReplayEvent], None] | None = None,
        stall_after_s: float = STALL_AFTER_S,
    ) -> None:
        self.checkpoint = checkpoint
        self.store = store
        self.rows_total = rows_total
        self.checkpoint_every_s = checkpoint_every_s
        self.progress_every_s = progress_every_s
        self.on_progress = on_progress
        self.clock = clock
        self.started = clock()
        self.watermark = Watermark(checkpoint.next_row)
        self.rows = self.bytes = self.sent = self.retried = self.failed = self.batches = 0
        self.dead_letter_local: list[str] = []
        self.permanent = 0
        self.fatal: str | None = None
        self.save_failed: str | None = None
        self.down: EndpointDown | None = None
        self.on_event = on_event
        self.events: list[ReplayEvent] = []
        self.stall_after_s = stall_after_s
        self.stalled_s: float | None = None
        self._last_ack = self.started  # or the moment a batch went out with none outstanding
        self._last_save = self._last_progress = self.started

    def event(self, kind: str, message: str) -> None:
        event = ReplayEvent.now(kind, message)
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def dispatched(self, seq: int, first_row: int, end_row: int) -> None:
        if not self.watermark.outstanding:
            self._last_ack = self.clock()
        self.watermark.dispatched(seq, first_row, end_row)

    def on_result(self, result: Result) -> None:
        if isinstance(result, WorkerFailed):
            self.fatal = self.fatal or result.message
            return
        if isinstance(result, EndpointDown):
            self.down = self.down or result
            return
        self._last_ack = self.clock()
        if self.stalled_s is not None:
            self.event("resumed", f"batches acknowledged again after {self.stalled_s:.0f} s")
            self.stalled_s = None
        self.rows += self.watermark.acknowledged(result.seq)
        self.bytes += result.nbytes
        self.sent += result.sent
        self.retried += result.retried
        self.failed += result.failed
        self.batches += 1
        self.permanent += result.permanent
        cp = self.checkpoint
        if result.dead_letter_local:
            self.dead_letter_local.append(result.dead_letter_local)
            cp.dead_letter_local.append(result.dead_letter_local)
        elif result.failed:
            cp.dead_letter_prefix = dead_letter_prefix(cp.replay_id)
        if result.failed:
            where = result.dead_letter_local or "S3"
            self.event(
                "dead-lettered",
                f"{result.failed:,} rows dead-lettered ({result.permanent:,} permanent) in {where}",
            )
        cp.sent += result.sent
        cp.retried += result.retried
        cp.failed += result.failed
        cp.dead_lettered += result.failed
        cp.permanent += result.permanent
        cp.batches += 1
        cp.next_row = self.watermark.next_row

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        waited = now - self._last_ack
        if self.watermark.outstanding and waited >= self.stall_after_s:
            if self.stalled_s is None:
                self.event("stalled", f"stalled: no batch acknowledged for {waited:.0f} s")
            self.stalled_s = waited
        if force or now - self._last_save >= self.checkpoint_every_s:
            try:
                self.save()
            except Exception as exc:  # an S3 store on a failing endpoint: try again next time
                if self.save_failed is None:
                    logger.warning("checkpoint not saved (%s); trying again", type(exc).__name__)
                self.save_failed = type(exc).__name__
                self._last_save = now
            else:
                self.save_failed = None
        due = now - self._last_progress >= self.progress_every_s
        if self.on_progress and (force or due):
            self._last_progress = now
            self.on_progress(self.progress())

    def save(self) -> None:
        self.checkpoint.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        self.store.save(self.checkpoint)
        self._last_save = self.clock()

    def progress(self) -> ReplayProgress:
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = self.rows / elapsed
        remaining = max(self.rows_total - self.watermark.rows_done(), 0)
        return ReplayProgress(
            rows_done=self.watermark.rows_done(),
            rows_total=self.rows_total,
            bytes_done=self.bytes,
            elapsed_s=elapsed,
            records_per_s=rate,
            mib_per_s=self.bytes / elapsed / 2**20,
            eta_s=remaining / rate if rate > 0 else None,
            retried=self.retried,
            failed=self.failed,
            stalled_s=self.stalled_s,
        )
