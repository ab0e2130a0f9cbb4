"""Generated transactions as the fraud model's training data (one generation per session)."""

from __future__ import annotations

import pytest

from txviz_pipeline.fraud import dataset
from txviz_pipeline.generator.sparkov import generate_csv


@pytest.fixture(scope="session")
def generated_csv(tmp_path_factory):
    """60,000 generated Sparkov rows: enough fraud (~350 rows) for a time-split model."""
    path = tmp_path_factory.mktemp("fraud") / "tx.csv"
    generate_csv(path, rows=60_000, seed=5)
    return path


@pytest.fixture(scope="session")
def training_data(generated_csv) -> dataset.Dataset:
    return dataset.build(dataset.read_csv(generated_csv))
