"""The dataset and the batch cutter: every row once, in order, within AWS's limits."""

from __future__ import annotations

import json
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import (
    MAX_BATCH_BYTES,
    MAX_RECORD_BYTES,
    RECORD_TOO_LARGE,
    BatchPlanner,
    Dataset,
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
    sent = [row_id_of(line) for b in batches for line in batch_lines(b)]
    assert sent == [i for i in range(40) if i != 20]
    assert sum(b.end_row - b.first_row for b in batches) == 40


def test_inconsistent_datasets_are_clear_errors(tmp_path):
    with pytest.raises(ReplayError, match="no manifest.json"):
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
        list(BatchPlanner(Dataset.open(path), 0, 12))


def test_compressed_batches_are_cut_at_time_boundaries(tmp_path):
    # One transaction every 2 s; speed 10 with 0.5 s lead: a batch spans < 5 event seconds.
    path = write_dataset(tmp_path / "ds", 20, step_s=2.0)
    batches = list(BatchPlanner(Dataset.open(path), 0, 20, speed=10, max_lead_s=0.5))
    assert [b.count for b in batches] == [3] * 6 + [2]
    assert [b.event_time for b in batches] == [START + timedelta(seconds=6 * i) for i in range(7)]
