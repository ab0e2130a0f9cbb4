"""The Lambda's scorer gives LightGBM's own predictions, on realistic rows and on missing values."""

from __future__ import annotations

import json
import math

import lightgbm
import numpy as np
import pytest
from treemodel import TreeModel

from txviz_pipeline.fraud.export import model_document, model_json

from .conftest import Sample
from .rows import TREES, train


def scores(model: TreeModel, rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array([model.predict(r) for r in rows]),
        np.array([model.raw_score(r) for r in rows]),
    )


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "walk"])
def test_scorer_equals_lightgbm_on_10000_rows(
    sample: Sample, booster: lightgbm.Booster, document: dict, compiled: bool
) -> None:
    model = TreeModel(document, compiled=compiled)
    assert model.compiled is compiled
    assert len(sample.rows) == 10_000
    matrix = np.asarray(sample.rows)
    expected = booster.predict(matrix)
    expected_raw = booster.predict(matrix, raw_score=True)
    probability, raw = scores(model, sample.rows)
    assert np.abs(probability - expected).max() <= 1e-6
    assert np.abs(raw - expected_raw).max() <= 1e-9
    # The rows exercise the model: scores spread out, categorical splits taken both ways.
    assert expected.max() > 0.9 and expected.min() < 0.01
    assert sum(k == "==" for t in document["trees"] for k in t["decision_type"]) > 10


def test_a_json_round_trip_scores_identically(sample: Sample, document: dict) -> None:
    text = model_json(document)
    again = TreeModel(json.loads(text))
    model = TreeModel(document)
    rows = sample.rows[:2_000]
    assert [again.predict(r) for r in rows] == [model.predict(r) for r in rows]
    assert [again.contributions(r) for r in rows[:200]] == [
        model.contributions(r) for r in rows[:200]
    ]
    assert json.loads(text) == document  # every float survives exactly


def with_holes(rows: list[list[float]], seed: int) -> list[list[float]]:
    """The rows with a fifth of their values made NaN, infinite, zero or odd categories."""
    rng = np.random.default_rng(seed)
    holes = [math.nan, math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-40, -1.0, 2.7, -0.5, 1e12]
    out = []
    for row in rows:
        row = list(row)
        for i in np.flatnonzero(rng.random(len(row)) < 0.2):
            row[i] = holes[rng.integers(len(holes))]
        out.append(row)
    return out


@pytest.mark.parametrize("zero_as_missing", [False, True], ids=["nan-missing", "zero-missing"])
def test_missing_values_take_lightgbm_s_side(sample: Sample, zero_as_missing: bool) -> None:
    """Trained with NaNs, a split sends NaN (or zero) to its learned default side; a row
    holding NaN or an infinity leaves the compiled function for the node-by-node walk."""
    booster = train(
        with_holes(sample.train_rows[:15_000], seed=1),
        sample.train_labels[:15_000],
        zero_as_missing=zero_as_missing,
    )
    document = model_document(booster, version="holes", threshold=0.5, metadata={})
    missing = {m for t in document["trees"] for m in t["missing_type"]}
    assert ("Zero" if zero_as_missing else "NaN") in missing
    assert any(not d for t in document["trees"] for d in t["default_left"])
    assert any(d for t in document["trees"] for d in t["default_left"])
    rows = with_holes(sample.rows[:3_000], seed=2)
    expected_raw = booster.predict(np.asarray(rows), raw_score=True)
    for compiled in (True, False):
        _, raw = scores(TreeModel(document, compiled=compiled), rows)
        assert np.abs(raw - expected_raw).max() <= 1e-9


def test_early_stopping_exports_the_best_iteration(sample: Sample) -> None:
    rows, labels = sample.train_rows, sample.train_labels
    booster = train(rows[:20_000], labels[:20_000])
    assert booster.current_iteration() == TREES
    booster.best_iteration = 40  # as lightgbm.early_stopping leaves it
    document = model_document(booster, version="early", threshold=0.5, metadata={})
    assert len(document["trees"]) == 40
    matrix = np.asarray(sample.rows[:1_000])
    _, raw = scores(TreeModel(document), sample.rows[:1_000])
    assert np.abs(raw - booster.predict(matrix, raw_score=True)).max() <= 1e-9
