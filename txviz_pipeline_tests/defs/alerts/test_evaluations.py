"""The check sensor's cursor over Dagster's execution rows: rows are planned first and updated
in place, so a run that finishes after a later one must still be seen, exactly once."""

from enum import Enum
from types import SimpleNamespace
from typing import NamedTuple

from txviz_pipeline.defs.alerts.evaluations import PENDING_MAX_S, CheckCursor, new_evaluations

NOW = 1_000_000.0


class Status(Enum):
    PLANNED = "PLANNED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Row(NamedTuple):
    key: str
    id: int
    status: Status
    create_timestamp: float = NOW - 5
    event: SimpleNamespace = SimpleNamespace(timestamp=NOW)


class Storage:
    """get_asset_check_execution_history over rows: newest id first, ``cursor`` exclusive."""

    def __init__(self, rows):
        self.rows = rows

    def get_asset_check_execution_history(self, check_key, limit, cursor=None):
        rows = sorted((r for r in self.rows if r.key == check_key), key=lambda r: -r.id)
        return [r for r in rows if cursor is None or r.id < cursor][:limit]


def test_a_run_that_finishes_after_a_later_one_is_still_seen_once():
    cursor = CheckCursor()
    rows = {1: Row("c", 1, Status.PLANNED), 2: Row("c", 2, Status.FAILED)}
    storage = Storage(list(rows.values()))
    assert [r.id for r in new_evaluations(storage, ["c"], cursor, NOW)] == [2]
    assert (cursor.after, cursor.done) == (0, {2})

    storage.rows = [Row("c", 1, Status.FAILED), rows[2], Row("c", 3, Status.SUCCEEDED)]
    cursor = CheckCursor.from_cursor(cursor.to_cursor())
    assert [r.id for r in new_evaluations(storage, ["c"], cursor, NOW)] == [1, 3]
    assert (cursor.after, cursor.done) == (3, set())
    assert new_evaluations(storage, ["c"], cursor, NOW) == []


def test_a_row_left_planned_by_a_dead_run_stops_holding_the_cursor_back():
    cursor = CheckCursor()
    stale = Row("c", 1, Status.PLANNED, create_timestamp=NOW - PENDING_MAX_S - 1)
    storage = Storage([stale, Row("c", 2, Status.FAILED)])
    new_evaluations(storage, ["c"], cursor, NOW)
    assert (cursor.after, cursor.done) == (2, set())


def test_history_longer_than_a_page_is_read_to_the_watermark():
    storage = Storage([Row("c", i, Status.SUCCEEDED) for i in range(1, 251)])
    cursor = CheckCursor(after=20)
    assert len(new_evaluations(storage, ["c"], cursor, NOW)) == 230
    assert cursor.after == 250
