"""The CSV files the ingest tests read: the repository's sample and the hand-made fixtures."""

from __future__ import annotations

from pathlib import Path

from txviz_pipeline.settings import REPO_ROOT

DATA = Path(__file__).parent / "data"
SAMPLE = REPO_ROOT / "data" / "sample.csv"  # txviz generate --rows 5000 --seed 42
MALFORMED = DATA / "malformed.csv"  # one row per kind of reject, between good rows
ULB = DATA / "ulb_creditcard_head.csv"  # the head of Kaggle's ULB creditcard.csv: another schema


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path
