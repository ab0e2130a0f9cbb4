"""Training data for the fraud model: the curated transactions as feature rows, in event time.

Every row's features come from lambda/cardhistory.py, run over the transactions in event-time
order with one history per card, exactly as the processor runs them one record at a time. Two
sources give the same columns (``COLUMNS``): the curated Parquet in S3 (what the ``fraud_model``
asset trains on) and a Sparkov CSV (what ``txviz train-model`` trains the bundled model on).
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from txviz_pipeline import aws
from txviz_pipeline.fraud.processor_modules import cardhistory
from txviz_pipeline.serving.spice import curated_parquet_keys
from txviz_pipeline.settings import Settings

# The landing fields the features and the label need.
COLUMNS: tuple[str, ...] = (
    "event_time",
    "trans_num",
    "card_token",
    "amount",
    "category",
    "hour",
    "distance_km",
    "merch_lat",
    "merch_long",
    "is_fraud",
)
_CSV_COLUMNS = [
    "trans_date_trans_time",
    "cc_num",
    "category",
    "amt",
    "lat",
    "long",
    "trans_num",
    "merch_lat",
    "merch_long",
    "is_fraud",
]


@dataclass(frozen=True)
class Dataset:
    """Feature rows (cardhistory.FEATURES order) sorted by event time, with labels and times."""

    X: np.ndarray  # float64, rows x features
    y: np.ndarray  # int8 labels (is_fraud)
    t: np.ndarray  # int64 event time, seconds since the epoch, ascending

    def __len__(self) -> int:
        return len(self.y)

    def window(self, start: int, stop: int) -> Dataset:
        """Rows start..stop-1 (a time window, since rows are in event-time order)."""
        return Dataset(self.X[start:stop], self.y[start:stop], self.t[start:stop])


def build(frame: pd.DataFrame) -> Dataset:
    """Feature rows for ``frame`` (the COLUMNS), each from its card's history before it."""
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"training data lacks the columns {missing}")
    frame = frame.sort_values(["event_time", "trans_num"], kind="stable")
    history = cardhistory()
    rows, times = _feature_rows(history, frame)
    X = np.array(rows, dtype=np.float64).reshape(len(rows), len(history.FEATURES))
    return Dataset(X, frame["is_fraud"].to_numpy(dtype=np.int8), np.array(times, dtype=np.int64))


def _feature_rows(history, frame: pd.DataFrame) -> tuple[list[list[float]], list[int]]:
    features, remember, seconds = history.features, history.remember, history.event_seconds
    cards: dict[str, dict] = {}
    rows: list[list[float]] = []
    times: list[int] = []
    names = [c for c in COLUMNS if c != "card_token"]
    columns = [frame[c].tolist() for c in names]
    for card, *values in zip(frame["card_token"].tolist(), *columns, strict=True):
        tx = dict(zip(names, values, strict=True))
        t = seconds(tx["event_time"])
        known = cards.get(card)
        rows.append(features(known, tx, t))
        cards[card] = remember(known, tx, t)
        times.append(t)
    return rows, times


def read_curated(settings: Settings) -> pd.DataFrame:
    """The COLUMNS of every curated Parquet file in the pipeline bucket, one row per trans_num."""
    s3 = aws.client("s3", settings)
    tables = [
        pq.read_table(io.BytesIO(_body(s3, settings.bucket, key)), columns=list(COLUMNS))
        for key in curated_parquet_keys(s3, settings.bucket)
    ]
    if not tables:
        return pd.DataFrame({c: [] for c in COLUMNS})
    frame = pd.concat((t.to_pandas() for t in tables), ignore_index=True)
    # One row per trans_num, the earliest arrival hour's, as the SPICE dataset keeps: a record
    # delivered again in a later hour, or a part a stopped compaction left, counts once.
    return frame.drop_duplicates("trans_num", keep="first", ignore_index=True)


def _body(s3, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def read_csv(path: Path) -> pd.DataFrame:
    """A Sparkov CSV as the COLUMNS; the card number stands in for the token (in memory only)."""
    raw = pd.read_csv(path, usecols=_CSV_COLUMNS, dtype={"cc_num": str, "trans_num": str})
    when = raw["trans_date_trans_time"]
    haversine = cardhistory().haversine_km
    return pd.DataFrame(
        {
            "event_time": when.str.replace(" ", "T", regex=False) + "Z",
            "trans_num": raw["trans_num"],
            "card_token": raw["cc_num"],
            "amount": raw["amt"].round(2),
            "category": raw["category"],
            "hour": when.str.slice(11, 13).astype(int),
            "distance_km": _distances(haversine, raw),
            "merch_lat": raw["merch_lat"],
            "merch_long": raw["merch_long"],
            "is_fraud": raw["is_fraud"].astype(int),
        }
    )


def _distances(haversine, raw: pd.DataFrame) -> list[float]:
    """Home-to-merchant km as the processor computes it (same function, same rounding)."""
    points: Iterable[tuple[float, float, float, float]] = zip(
        raw["lat"].tolist(),
        raw["long"].tolist(),
        raw["merch_lat"].tolist(),
        raw["merch_long"].tolist(),
        strict=True,
    )
    return [round(haversine(*p), 3) for p in points]
