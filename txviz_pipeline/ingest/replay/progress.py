"""What a replay has done so far: acknowledged batches, counts, checkpoint saves and progress
reports, paced by their own intervals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, CheckpointStore, Watermark
from txviz_pipeline.ingest.replay.pool import BatchDone, WorkerFailed


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
        self.fatal: str | None = None
        self._last_save = self._last_progress = self.started

    def dispatched(self, seq: int, first_row: int, end_row: int) -> None:
        self.watermark.dispatched(seq, first_row, end_row)

    def on_result(self, result: BatchDone | WorkerFailed) -> None:
        if isinstance(result, WorkerFailed):
            self.fatal = self.fatal or result.message
            return
        self.rows += self.watermark.acknowledged(result.seq)
        self.bytes += result.nbytes
        self.sent += result.sent
        self.retried += result.retried
        self.failed += result.failed
        self.batches += 1
        if result.dead_letter_local:
            self.dead_letter_local.append(result.dead_letter_local)
        cp = self.checkpoint
        cp.sent += result.sent
        cp.retried += result.retried
        cp.failed += result.failed
        cp.batches += 1
        cp.next_row = self.watermark.next_row

    def tick(self, force: bool = False) -> None:
        now = self.clock()
        if force or now - self._last_save >= self.checkpoint_every_s:
            self.save()
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
        )
