"""One realistic sample and one booster trained on it, shared by the fraud model's tests."""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm
import pytest

from txviz_pipeline.fraud.export import model_document

from .rows import feature_rows, landing_records, train

# 40,000 generated transactions (~17 days, ~230 fraud): the first 30,000 train, the rest score.
SAMPLE_ROWS = 40_000
TRAIN_ROWS = 30_000


@dataclass(frozen=True)
class Sample:
    train_rows: list[list[float]]
    train_labels: list[int]
    rows: list[list[float]]  # the 10,000 held-out rows the scorer is checked on
    labels: list[int]


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    records = landing_records(tmp_path_factory.mktemp("fraud-sample"), SAMPLE_ROWS)
    rows, labels = feature_rows(records)
    return Sample(rows[:TRAIN_ROWS], labels[:TRAIN_ROWS], rows[TRAIN_ROWS:], labels[TRAIN_ROWS:])


@pytest.fixture(scope="session")
def booster(sample: Sample) -> lightgbm.Booster:
    return train(sample.train_rows, sample.train_labels)


@pytest.fixture(scope="session")
def document(booster: lightgbm.Booster) -> dict:
    return model_document(booster, version="test-1", threshold=0.5, metadata={"rows": TRAIN_ROWS})
