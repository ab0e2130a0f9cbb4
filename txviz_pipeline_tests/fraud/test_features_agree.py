"""Training and scoring see the same features: the processor, one Firehose batch at a time,
against the training data built from the curated Parquet of the records it landed."""

from __future__ import annotations

import base64
import io

import cardhistory
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cardstore import MemoryCardStore
from records import process_records

from txviz_pipeline.compaction import parse_landing_lines
from txviz_pipeline.fraud import dataset
from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson

BATCH = 500
KEY = b"test-card-token-key-0123456789"


class RecordingModel:
    """Stands in for the model: keeps every feature row the processor scores, flags none."""

    version = "recording"
    threshold = 2.0
    features = cardhistory.FEATURES

    def __init__(self) -> None:
        self.rows: list[list[float]] = []

    def predict(self, row: list[float]) -> float:
        self.rows.append(list(row))
        return 0.5


@pytest.fixture(scope="module")
def replay_lines(tmp_path_factory) -> list[bytes]:
    """6,000 generated rows as the replay sends them, in event-time order."""
    work = tmp_path_factory.mktemp("agree")
    generate_csv(work / "tx.csv", rows=6_000, seed=3)
    convert_csv_to_ndjson(work / "tx.csv", work / "ndjson")
    lines = [
        line + b"\n"
        for part in sorted((work / "ndjson").glob("part-*.ndjson"))
        for line in part.read_bytes().splitlines()
    ]
    lines.sort(key=_event_order)
    return lines


def _event_order(line: bytes) -> tuple[str, str]:
    row = orjson.loads(line)
    return row["trans_date_trans_time"], row["trans_num"]


def _serve(lines: list[bytes], model: RecordingModel) -> list[bytes]:
    """Every line through the processor in batches; the landing lines it returns."""
    store = MemoryCardStore()
    landed = []
    for start in range(0, len(lines), BATCH):
        entries = [
            {"recordId": f"r{start + i}", "data": base64.b64encode(line).decode("ascii")}
            for i, line in enumerate(lines[start : start + BATCH])
        ]
        for res in process_records(entries, KEY, model=model, store=store):
            assert res.zone == "landing", res.reason
            landed.append(base64.b64decode(res.data))
    return landed


def test_training_rows_equal_the_rows_the_processor_scored(replay_lines):
    model = RecordingModel()
    landed = _serve(replay_lines, model)
    # The curated Parquet as compaction writes it, read back as the fraud_model asset reads it.
    table, bad = parse_landing_lines(landed)
    assert bad == 0
    buf = io.BytesIO()
    pq.write_table(table, buf)
    frame = pq.read_table(pa.BufferReader(buf.getvalue()), columns=list(dataset.COLUMNS))
    trained_on = dataset.build(frame.to_pandas())

    served = np.array(model.rows)
    assert served.shape == trained_on.X.shape == (6_000, len(cardhistory.FEATURES))
    assert np.array_equal(served, trained_on.X)
    # The history features are live, not constants: cards come back within the hour and day.
    names = list(cardhistory.FEATURES)
    assert (trained_on.X[:, names.index("tx_last_day")] > 0).mean() > 0.5
    assert (trained_on.X[:, names.index("amount_vs_category_usual")] > 0).mean() > 0.2
    assert (trained_on.X[:, names.index("tx_last_hour")] > 0).any()


def test_the_batch_boundaries_do_not_change_the_features(replay_lines):
    whole, split = RecordingModel(), RecordingModel()
    first = replay_lines[:1_000]
    _serve(first, whole)
    store = MemoryCardStore()
    for start in range(0, len(first), 7):  # batches of 7
        entries = [
            {"recordId": f"r{i}", "data": base64.b64encode(line).decode("ascii")}
            for i, line in enumerate(first[start : start + 7])
        ]
        process_records(entries, KEY, model=split, store=store)
    assert split.rows == whole.rows


def test_a_batch_in_any_order_is_scored_in_event_time_order(replay_lines):
    ordered, shuffled = RecordingModel(), RecordingModel()
    batch = replay_lines[:BATCH]
    _serve(batch, ordered)
    _serve(list(reversed(batch)), shuffled)
    assert shuffled.rows == ordered.rows
