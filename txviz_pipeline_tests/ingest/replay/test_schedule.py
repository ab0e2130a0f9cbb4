"""Time compression: each batch leaves when its first event is due, never earlier."""

from __future__ import annotations

from datetime import timedelta

import pytest

from txviz_pipeline.ingest.replay.plan import BatchPlanner, Dataset
from txviz_pipeline.ingest.replay.schedule import Schedule
from txviz_pipeline_tests.ingest.replay.data import START, write_dataset


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_schedule_sends_each_batch_when_its_events_are_due(tmp_path):
    rows = 5_400  # three hours, one transaction every 2 s
    path = write_dataset(tmp_path / "ds", rows, step_s=2.0)
    clock = FakeClock()
    schedule = Schedule(3_600, clock=clock, sleep=clock.sleep)
    departures = []
    for batch in BatchPlanner(Dataset.open(path), 0, rows, speed=3_600, max_lead_s=0.2):
        schedule.wait(batch.event_time)
        departures.append((clock.now - 500.0, batch))
    # An hour of transactions per second: batches of 0.2 s (720 event seconds) each, the last
    # one leaving at 2.8 s.
    assert [b.count for _, b in departures] == [360] * 15
    assert [t for t, _ in departures] == pytest.approx([0.2 * i for i in range(15)])
    for left_at, batch in departures:
        first_due = (batch.first_row * 2.0) / 3_600
        last_due = ((batch.end_row - 1) * 2.0) / 3_600
        assert left_at == pytest.approx(first_due)  # never before its first record is due
        assert last_due - left_at <= 0.2  # and no record more than max_lead_s early


def test_schedule_as_fast_as_possible_never_sleeps():
    clock = FakeClock()
    schedule = Schedule(None, clock=clock, sleep=clock.sleep)
    assert schedule.wait(START + timedelta(days=1)) == 0 and clock.now == 500.0
