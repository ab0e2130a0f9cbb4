"""The dataset and the batch cutter: every row once, in order, within AWS's limits."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import (
    MAX_BATCH_BYTES,
    MAX_RECORD_BYTES,
    MAX_TAG_BYTES,
    RECORD_TOO_LARGE,
    BatchPlanner,
    Dataset,
    DatasetPart,
    row_id_of,
)
from txviz_pipeline_tests.ingest.replay.data import START, dataset_lines, record, write_dataset


def batch_lines(batch) -> list[bytes]:
    return batch.payload.splitlines(keepends=True)


# ---- batch cutting ------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_bytes", [1_000, 50_000, 8 * 1024 * 1024])
def test_batches_cover_every_row_once_in_order(tmp_path, chunk_bytes):
    path = write_dataset(tmp_path / "ds", 1_234, parts=3)
    planner = BatchPlanner(Dataset.open(path), 0, 1_234, chunk_bytes=chunk_bytes)
    batches = list(planner)
    assert [b.seq for b in batches] == list(range(len(batches)))
    assert all(b.count <= 500 and len(b.payload) <= MAX_BATCH_BYTES for b in batches)
    assert [b.count for b in batches][:2] == [500, 500]  # batches span part boundaries
    rows = 0
    for b in batches:
        assert b.first_row == rows and b.end_row == rows + b.count
        rows = b.end_row
    assert rows == 1_234
    assert [line for b in batches for line in batch_lines(b)] == dataset_lines(path)
    assert all(b.rejects == [] for b in batches)
    assert (planner.first_row_id, planner.last_row_id) == (0, 1_233)


def test_start_row_and_end_row_select_a_slice(tmp_path):
    path = write_dataset(tmp_path / "ds", 1_000, parts=4, first_row_id=100)
    planner = BatchPlanner(Dataset.open(path), 260, 777, chunk_bytes=2_000)
    batches = list(planner)
    sent = [row_id_of(line) for b in batches for line in batch_lines(b)]
    assert sent == list(range(360, 877))
    assert batches[0].first_row == 260 and batches[-1].end_row == 777
    assert (planner.first_row_id, planner.last_row_id) == (360, 876)


def test_a_missing_final_newline_is_added(tmp_path):
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(3)]
    lines[-1] = lines[-1].rstrip(b"\n")
    path = write_dataset(tmp_path / "ds", 3, lines=lines)
    (batch,) = BatchPlanner(Dataset.open(path), 0, 3)
    assert batch.payload.endswith(b"}\n") and batch.payload.count(b"\n") == 3


def test_a_part_without_a_final_newline_does_not_run_into_the_next(tmp_path):
    lines = [json.dumps(record(i, START)).encode() + b"\n" for i in range(4)]
    lines[1] = lines[1].rstrip(b"\n")  # the end of the first of two parts
    path = write_dataset(tmp_path / "ds", 4, parts=2, lines=lines)
    (batch,) = BatchPlanner(Dataset.open(path), 0, 4)
    assert batch.payload == b"".join(lines[:1] + [lines[1] + b"\n"] + lines[2:])


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 3_000), min_size=1, max_size=1_500),
    chunk_bytes=st.integers(64, 20_000),
    max_records=st.integers(1, 500),
    data=st.data(),
)
def test_any_line_lengths_chunk_sizes_and_slices(lengths, chunk_bytes, max_records, data):
    """Batches are contiguous, within limits, and reproduce the selected lines exactly."""
    start = data.draw(st.integers(0, len(lengths)))
    end = data.draw(st.integers(start, len(lengths)))
    lines = [b'{"row_id": %d, "pad": "%s"}\n' % (i, b"x" * n) for i, n in enumerate(lengths)]
    with tempfile.TemporaryDirectory() as tmp:
        path = write_dataset(Path(tmp) / "ds", len(lines), parts=3, lines=lines)
        planner = BatchPlanner(
            Dataset.open(path), start, end, max_records=max_records, chunk_bytes=chunk_bytes
        )
        batches = list(planner)
    assert b"".join(b.payload for b in batches) == b"".join(lines[start:end])
    assert all(0 < b.count <= max_records for b in batches)
    assert [(b.first_row, b.end_row) for b in batches] == [
        (start + sum(b.count for b in batches[:i]), start + sum(b.count for b in batches[: i + 1]))
        for i in range(len(batches))
    ]
    if end > start:
        assert (planner.first_row_id, planner.last_row_id) == (start, end - 1)


@pytest.mark.parametrize("chunk_bytes", [64 * 1024, 8 * 1024 * 1024])
def test_byte_limit_and_oversized_records(tmp_path, chunk_bytes):
    big = 300 * 1024  # 14 of these exceed 4 MiB
    lines = [
        json.dumps(record(i, START, job="x" * (2 * MAX_RECORD_BYTES if i == 20 else big))).encode()
        + b"\n"
        for i in range(40)
    ]
    path = write_dataset(tmp_path / "ds", 40, lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, 40, chunk_bytes=chunk_bytes))
    assert all(len(b.payload) <= MAX_BATCH_BYTES for b in batches)
    assert max(b.count for b in batches) == 13
    rejects = [r for b in batches for r in b.rejects]
    assert [(row_id_of(r[0]), r[1]) for r in rejects] == [(20, RECORD_TOO_LARGE)]
    assert "1,000 KiB" in rejects[0][2]
    sent = b"".join(b.payload for b in batches)
    assert sent == b"".join(line for i, line in enumerate(lines) if i != 20)
    assert sum(b.end_row - b.first_row for b in batches) == 40


@pytest.mark.parametrize("speed", [None, 10])
def test_inconsistent_datasets_are_clear_errors(tmp_path, speed):
    with pytest.raises(ReplayError, match="no manifest.json"):
        Dataset.open(tmp_path)
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ReplayError, match="manifest.json is not valid JSON"):
        Dataset.open(tmp_path)
    (tmp_path / "manifest.json").write_text('{"rows": 3, "parts": [{"rows": 3}]}')
    with pytest.raises(ReplayError, match="manifest.json lacks parts"):
        Dataset.open(tmp_path)
    (tmp_path / "manifest.json").write_text('{"rows": 3, "parts": [{"name": "p", "rows": 3}]}')
    with pytest.raises(ReplayError, match=r"parts listed in manifest.json are missing: \['p'\]"):
        Dataset.open(tmp_path)
    (tmp_path / "p").write_bytes(b"")
    (tmp_path / "manifest.json").write_text('{"rows": 4, "parts": [{"name": "p", "rows": 3}]}')
    with pytest.raises(ReplayError, match="parts hold 3 rows, manifest says 4"):
        Dataset.open(tmp_path)
    path = write_dataset(tmp_path / "ds", 10, parts=2)
    with (path / "part-00001.ndjson").open("ab") as f:
        f.write(b'{"row_id": 10}\n')
    with pytest.raises(ReplayError, match="part-00001.ndjson is .* bytes but manifest.json says"):
        Dataset.open(path)
    path = write_dataset(tmp_path / "ds2", 10, parts=2)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["rows"] = 12
    manifest["parts"][1]["rows"] = 7
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReplayError, match="ends after 10 rows but its manifest.json says 12"):
        list(BatchPlanner(Dataset.open(path), 0, 12, speed=speed))


def test_an_opened_dataset_holds_its_manifest(tmp_path):
    path = write_dataset(tmp_path / "ds", 10, parts=2)
    manifest = json.loads((path / "manifest.json").read_text())
    ds = Dataset.open(path)
    assert (ds.path, ds.rows, ds.manifest) == (path, 10, manifest)
    assert [(p.path, p.rows) for p in ds.parts] == [
        (path / "part-00000.ndjson", 5),
        (path / "part-00001.ndjson", 5),
    ]


def test_row_id_of_a_line_without_one_is_none():
    assert row_id_of(b'{"row_id": -3, "x": 1}') == -3
    assert row_id_of(b"not json\n") is None


def test_compressed_batches_are_cut_at_time_boundaries(tmp_path):
    # One transaction every 2 s; speed 10 with 0.5 s lead: a batch spans < 5 event seconds.
    path = write_dataset(tmp_path / "ds", 20, step_s=2.0)
    batches = list(BatchPlanner(Dataset.open(path), 0, 20, speed=10, max_lead_s=0.5))
    assert [b.count for b in batches] == [3] * 6 + [2]
    assert [b.event_time for b in batches] == [START + timedelta(seconds=6 * i) for i in range(7)]


def test_slow_speeds_still_cut_at_one_event_second(tmp_path):
    # Timestamps have one-second resolution: at speed 1 a batch spans one event second.
    path = write_dataset(tmp_path / "ds", 6, step_s=1.0)
    batches = list(BatchPlanner(Dataset.open(path), 0, 6, speed=1, max_lead_s=0.2))
    assert [b.count for b in batches] == [1] * 6


# ---- the edges of AWS's limits --------------------------------------------------------------


def line_of(row_id: int, length: int) -> bytes:
    """A JSON line of exactly ``length`` bytes, newline included."""
    head = b'{"row_id": %d, "pad": "' % row_id
    return head + b"x" * (length - len(head) - 3) + b'"}\n'


def test_batches_fill_4_mib_with_their_tags_and_not_a_byte_more(tmp_path):
    # 16 records whose tagged size is exactly 4 MiB / 16 fill one call exactly; after 15 of
    # them, a record that fits untagged but not with its tag starts the next call.
    exact = MAX_BATCH_BYTES // 16 - MAX_TAG_BYTES
    lengths = [exact] * 16 + [exact] * 15 + [exact + MAX_TAG_BYTES - 44, 100]
    lines = [line_of(i, n) for i, n in enumerate(lengths)]
    path = write_dataset(tmp_path / "ds", len(lines), lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, len(lines)))
    assert [b.count for b in batches] == [16, 15, 2]
    assert b"".join(b.payload for b in batches) == b"".join(lines)
    assert all(len(b.payload) + b.count * MAX_TAG_BYTES <= MAX_BATCH_BYTES for b in batches)


@pytest.mark.parametrize("max_records", [1, 500])
def test_a_record_over_1000_kib_with_its_tag_is_never_sent(tmp_path, max_records):
    limit = MAX_RECORD_BYTES - MAX_TAG_BYTES
    lines = [line_of(0, 300), line_of(1, limit), line_of(2, 300), line_of(3, limit + 1)]
    path = write_dataset(tmp_path / "ds", 4, lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, 4, max_records=max_records))
    assert b"".join(b.payload for b in batches) == b"".join(lines[:3])
    assert [(row_id_of(r.line), r.code) for b in batches for r in b.rejects] == [
        (3, RECORD_TOO_LARGE)
    ]
    assert batches[-1].end_row == 4


@pytest.mark.parametrize("speed", [None, 1_000_000])
def test_a_rows_limit_is_kept_when_lines_are_rejected_or_timed(tmp_path, speed):
    lines = [line_of(i, MAX_RECORD_BYTES if i == 2 else 400) for i in range(10)]
    path = write_dataset(tmp_path / "ds", 10, lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, 5, speed=speed))
    assert batches[-1].end_row == 5
    assert b"".join(b.payload for b in batches) == b"".join(lines[:2] + lines[3:5])
    assert [row_id_of(r.line) for b in batches for r in b.rejects] == [2]


@pytest.mark.parametrize("chunk_bytes", [700, 5_000])
def test_timed_batches_reproduce_every_line_across_parts_and_reads(tmp_path, chunk_bytes):
    lines = [line_of(i, 150 + (i * 37) % 400) for i in range(300)]
    path = write_dataset(tmp_path / "ds", 300, parts=3, lines=lines)
    planner = BatchPlanner(Dataset.open(path), 0, 300, speed=10**9, chunk_bytes=chunk_bytes)
    batches = list(planner)
    assert b"".join(b.payload for b in batches) == b"".join(lines)
    assert [b.first_row for b in batches] == [0] + [b.end_row for b in batches[:-1]]


@pytest.mark.parametrize("short_first", [True, False])
def test_line_lengths_that_change_between_batches(tmp_path, short_first):
    # The cutter guesses where the 500th line ends from the last batch's average line.
    short, long = [60] * 500, [900] * 500
    lengths = short + long + short if short_first else long + short + long
    lines = [line_of(i, n) for i, n in enumerate(lengths)]
    path = write_dataset(tmp_path / "ds", len(lines), lines=lines)
    batches = list(BatchPlanner(Dataset.open(path), 0, len(lines)))
    assert [b.count for b in batches] == [500, 500, 500]
    assert [b.payload for b in batches] == [
        b"".join(lines[i : i + 500]) for i in range(0, 1_500, 500)
    ]


def test_the_last_row_id_of_one_record_batches(tmp_path):
    path = write_dataset(tmp_path / "ds", 10, first_row_id=50)
    planner = BatchPlanner(Dataset.open(path), 0, 10, max_records=1)
    assert len(list(planner)) == 10
    assert (planner.first_row_id, planner.last_row_id) == (50, 59)


def test_batches_leave_while_the_dataset_is_still_being_read(tmp_path):
    """Memory stays flat: the first batch is cut before the later parts are opened."""
    opened: list[str] = []

    class SpyPath(type(Path())):
        def open(self, *args, **kwargs):
            opened.append(self.name)
            return super().open(*args, **kwargs)

    path = write_dataset(tmp_path / "ds", 3_000, parts=3)
    ds = Dataset.open(path)
    ds = replace(ds, parts=tuple(DatasetPart(SpyPath(p.path), p.rows) for p in ds.parts))
    for speed in (None, 10**9):
        opened.clear()
        batches = iter(BatchPlanner(ds, 0, 3_000, speed=speed, chunk_bytes=4_096))
        assert next(batches).count == 500
        assert opened == ["part-00000.ndjson"], speed


def test_an_empty_range_cuts_nothing_and_names_no_rows(tmp_path):
    planner = BatchPlanner(Dataset.open(write_dataset(tmp_path / "ds", 10)), 10, 10)
    assert list(planner) == []
    assert (planner.first_row_id, planner.last_row_id) == (None, None)


def test_an_empty_part_adds_no_row(tmp_path):
    lines = [line_of(i, 200) for i in range(6)]
    path = write_dataset(tmp_path / "ds", 6, parts=3, lines=lines)
    manifest = json.loads((path / "manifest.json").read_text())
    (path / "part-00001.ndjson").write_bytes(b"")
    (path / "part-00002.ndjson").write_bytes(b"".join(lines[2:]))
    manifest["parts"][1].update(rows=0, bytes=0)
    manifest["parts"][2].update(rows=4, bytes=sum(map(len, lines[2:])))
    (path / "manifest.json").write_text(json.dumps(manifest))
    # Two-record batches use up the first part exactly before the empty one is read.
    batches = list(BatchPlanner(Dataset.open(path), 0, 6, max_records=2))
    assert b"".join(b.payload for b in batches) == b"".join(lines)
    assert [b.end_row for b in batches] == [2, 4, 6]
