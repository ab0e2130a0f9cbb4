"""The resume checkpoint is the low watermark: acknowledgements arrive out of order, and the
saved ``next_row`` only ever covers batches that are done together with every batch before."""

from __future__ import annotations

from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, Watermark
from txviz_pipeline.ingest.replay.pool import BatchDone, WorkerFailed
from txviz_pipeline.ingest.replay.progress import ReplayProgress, Tracker


class MemoryStore:
    def __init__(self) -> None:
        self.saved: list[Checkpoint] = []

    def save(self, checkpoint: Checkpoint) -> None:
        self.saved.append(Checkpoint.from_json(checkpoint.to_json()))

    def load(self, replay_id: str) -> Checkpoint | None:
        return self.saved[-1] if self.saved else None

    def describe(self, replay_id: str) -> str:
        return "memory"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# Four batches of rows [0,100) [100,250) [250,300) [300,420), resumed at row 0.
RANGES = [(0, 100), (100, 250), (250, 300), (300, 420)]


def tracker(
    store: MemoryStore, clock: Clock, progress: list | None = None, next_row: int = 0
) -> Tracker:
    t = Tracker(
        Checkpoint("r", "ds", 1_000, next_row=next_row),
        store,
        420,
        checkpoint_every_s=1.0,
        progress_every_s=2.0,
        on_progress=None if progress is None else progress.append,
        clock=clock,
    )
    for seq, (first, end) in enumerate(RANGES):
        t.dispatched(seq, first, end)
    return t


def done(seq: int, sent: int = 1, failed: int = 0) -> BatchDone:
    return BatchDone(seq, sent, 0, failed, 10, None)


def test_out_of_order_acks_save_only_the_unbroken_prefix():
    store, clock = MemoryStore(), Clock()
    t = tracker(store, clock)
    for seq in (0, 2, 3):
        t.on_result(done(seq))
    t.tick(force=True)
    assert store.saved[-1].next_row == 100  # after batch 0 only: batch 1 is not done
    assert store.saved[-1].batches == 3 and t.watermark.outstanding == 1
    assert t.progress().rows_done == 100 + 50 + 120  # progress counts every done row
    t.on_result(done(1))
    t.tick(force=True)
    assert store.saved[-1].next_row == 420  # after batch 3
    assert t.watermark.outstanding == 0 and t.rows == 420


def test_a_resumed_watermark_starts_where_the_checkpoint_stopped():
    w = Watermark(next_row=5_000)
    w.dispatched(0, 5_000, 5_500)
    w.dispatched(1, 5_500, 5_600)
    assert w.acknowledged(1) == 100 and w.next_row == 5_000
    assert w.acknowledged(0) == 500 and w.next_row == 5_600


def test_checkpoints_and_progress_follow_their_own_intervals():
    store, clock, progress = MemoryStore(), Clock(), []
    t = tracker(store, clock, progress)
    t.on_result(done(0))
    t.tick()
    assert store.saved == [] and progress == []
    clock.now += 1.0
    t.tick()
    assert [c.next_row for c in store.saved] == [100] and progress == []
    clock.now += 1.0
    t.tick()
    assert len(store.saved) == 2 and [p.rows_done for p in progress] == [100]
    clock.now += 1.0
    t.tick()
    assert len(store.saved) == 3 and len(progress) == 1  # the next report is 2 s later
    clock.now += 1.0
    t.tick()
    assert len(progress) == 2
    assert store.saved[-1].updated_at.endswith("+00:00")  # UTC


def test_progress_reports_rates_and_eta_of_this_run():
    store, clock = MemoryStore(), Clock()
    t = tracker(store, clock, next_row=0)
    assert t.progress().eta_s is None  # nothing acknowledged yet: no rate to go by
    clock.now += 0.5
    t.on_result(BatchDone(0, 100, 3, 0, 2**20, None))
    assert t.progress() == ReplayProgress(
        rows_done=100,
        rows_total=420,
        bytes_done=2**20,
        elapsed_s=0.5,
        records_per_s=200.0,
        mib_per_s=2.0,
        eta_s=320 / 200.0,
        retried=3,
        failed=0,
    )
    clock.now += 199.5  # 100 rows in 200 s: under one row a second
    assert t.progress().eta_s == 320 / 0.5
    for seq in (1, 2, 3):
        t.on_result(done(seq))
    assert t.progress().eta_s == 0.0


def test_a_resumed_replay_reports_its_watermark_before_any_ack():
    t = tracker(MemoryStore(), Clock(), next_row=0)
    resumed = Tracker(
        Checkpoint("r", "ds", 1_000, next_row=600),
        MemoryStore(),
        1_000,
        checkpoint_every_s=1.0,
        progress_every_s=2.0,
        on_progress=None,
        clock=Clock(),
    )
    assert resumed.progress().rows_done == 600 and t.progress().rows_done == 0


def test_counts_add_up_in_the_checkpoint_and_a_worker_failure_is_kept():
    store, clock = MemoryStore(), Clock()
    t = tracker(store, clock)
    t.checkpoint.sent, t.checkpoint.batches = 1_000, 10  # totals of an earlier run
    t.on_result(BatchDone(0, 98, 7, 2, 1_000, "/tmp/dl"))
    t.on_result(BatchDone(1, 150, 1, 0, 3_000, None))
    t.on_result(WorkerFailed(1, "boom"))
    t.on_result(WorkerFailed(2, "later"))
    t.save()
    cp = store.saved[-1]
    assert (cp.sent, cp.retried, cp.failed, cp.batches) == (1_248, 8, 2, 12)
    assert (t.sent, t.retried, t.failed, t.bytes, t.batches) == (248, 8, 2, 4_000, 2)
    assert t.dead_letter_local == ["/tmp/dl"] and t.fatal == "boom"


def test_dead_letters_are_counted_apart_and_keep_the_replay_incomplete():
    store, clock = MemoryStore(), Clock()
    t = tracker(store, clock)
    t.on_result(BatchDone(0, 97, 0, 3, 1_000, "/tmp/dl-0", 1))
    t.on_result(BatchDone(1, 148, 0, 2, 1_000, None, 0))
    for seq in (2, 3):
        t.on_result(done(seq, sent=1))
    t.save()
    cp = store.saved[-1]
    assert cp.next_row == 420 and (cp.dead_lettered, cp.permanent) == (5, 1)
    assert cp.dead_letter_local == ["/tmp/dl-0"]
    assert cp.dead_letter_prefix == "errors/replay-failed/r/"
    assert not cp.done(420)  # handled, but five rows were never accepted
    cp.dead_lettered = 0
    assert cp.done(420) and not cp.done(421)
    assert [e.kind for e in t.events] == ["dead-lettered", "dead-lettered"]
    assert t.events[0].message == "3 rows dead-lettered (1 permanent) in /tmp/dl-0"


def test_a_replay_with_batches_out_and_no_ack_is_stalled_until_one_comes():
    store, clock, progress, events = MemoryStore(), Clock(), [], []
    t = tracker(store, clock, progress)
    t.on_event = events.append
    t.on_result(done(0))
    clock.now += 9.9
    t.tick(force=True)
    assert progress[-1].stalled_s is None and progress[-1].describe() == ""
    clock.now += 0.1
    t.tick(force=True)
    assert progress[-1].stalled_s == 10.0
    assert progress[-1].describe() == "stalled: no batch acknowledged for 10 s"
    clock.now += 5
    t.tick(force=True)
    assert progress[-1].stalled_s == 15.0
    t.on_result(done(1))
    t.tick(force=True)
    assert progress[-1].stalled_s is None
    assert [(e.kind, e.message) for e in events] == [
        ("stalled", "stalled: no batch acknowledged for 10 s"),
        ("resumed", "batches acknowledged again after 15 s"),
    ]


def test_a_replay_waiting_for_its_schedule_is_not_stalled():
    store, clock, events = MemoryStore(), Clock(), []
    t = Tracker(
        Checkpoint("r", "ds", 1_000),
        store,
        1_000,
        checkpoint_every_s=1.0,
        progress_every_s=2.0,
        on_progress=None,
        clock=clock,
        on_event=events.append,
    )
    clock.now += 600  # nothing out: a time-compressed replay between two batches
    t.tick()
    t.dispatched(0, 0, 100)
    clock.now += 9
    t.tick()
    assert events == [] and t.stalled_s is None
