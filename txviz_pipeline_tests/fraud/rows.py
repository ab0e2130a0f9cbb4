"""Realistic fraud-model rows: generated Sparkov rows, through the processor, into card histories.

The generator writes a CSV, the converter turns it into the replay's NDJSON, the processor
(``records.process_records``) makes each line a landing record, and cardhistory's
``features``/``remember`` run over the landing records in event-time order per card: the rows
the Lambda will score, with ``is_fraud`` as the label.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cardhistory
import lightgbm
import numpy as np
from records import process_records

from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson

KEY = b"fraud-model-rows-card-token-key"
BATCH = 500
# Later than any generated event: the processor refuses events more than a day in its future.
NOW = datetime(2031, 1, 1, tzinfo=UTC)


def landing_records(folder: Path, rows: int, seed: int = 11) -> list[dict[str, Any]]:
    """``rows`` generated transactions as landing records, in event-time order."""
    generate_csv(folder / "tx.csv", rows, seed=seed)
    convert_csv_to_ndjson(folder / "tx.csv", folder / "ndjson")
    lines = [
        line
        for part in sorted((folder / "ndjson").glob("*.ndjson"))
        for line in part.read_bytes().splitlines(keepends=True)
    ]
    landed = []
    for start in range(0, len(lines), BATCH):
        entries = [
            {"recordId": f"r{i}", "data": base64.b64encode(line).decode("ascii")}
            for i, line in enumerate(lines[start : start + BATCH])
        ]
        for result in process_records(entries, KEY, now=NOW):
            assert result.zone == "landing", result.reason
            landed.append(json.loads(base64.b64decode(result.data)))
    landed.sort(key=lambda r: (r["event_time"], r["trans_num"]))
    return landed


def feature_rows(records: list[dict[str, Any]]) -> tuple[list[list[float]], list[int]]:
    """cardhistory's feature row and the label of each record, per card in event order."""
    histories: dict[str, dict[str, Any]] = {}
    rows, labels = [], []
    for record in records:
        t = cardhistory.event_seconds(record["event_time"])
        history = histories.get(record["card_token"])
        rows.append(cardhistory.features(history, record, t))
        labels.append(record["is_fraud"])
        histories[record["card_token"]] = cardhistory.remember(history, record, t)
    return rows, labels


# The lead's training parameters, made deterministic (one thread) for tests and benchmarks.
PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_child_samples": 300,
    "seed": 1,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
TREES = 150


def train(rows: list[list[float]], labels: list[int], **params: Any) -> lightgbm.Booster:
    """A booster over cardhistory.FEATURES with "category" categorical (PARAMS, changed)."""
    data = lightgbm.Dataset(
        np.asarray(rows, dtype=np.float64),
        np.asarray(labels),
        feature_name=list(cardhistory.FEATURES),
        categorical_feature=list(cardhistory.CATEGORICAL_FEATURES),
    )
    return lightgbm.train({**PARAMS, **params}, data, num_boost_round=TREES)
