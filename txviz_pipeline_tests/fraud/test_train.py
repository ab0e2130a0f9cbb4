"""Training: split by event time, regularised, a threshold that meets its precision target."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from txviz_pipeline.fraud import dataset, train
from txviz_pipeline.fraud.evaluation import evaluate, threshold_for_precision


def test_validation_is_the_most_recent_window(training_data):
    past, recent = train.split(training_data, 0.15)
    assert len(past) + len(recent) == len(training_data)
    assert past.t.max() < recent.t.min()  # no second is split across the two
    assert abs(len(recent) - 0.15 * len(training_data)) < 0.01 * len(training_data)


def test_a_trained_model_ranks_and_flags_fraud_on_later_transactions(training_data):
    trained = train.train(training_data, now=datetime(2026, 12, 2, 9, 30, tzinfo=UTC))
    v = trained.validation
    assert trained.version == "20261202T093000Z"
    assert v.frauds > 20 and v.rows == len(training_data) - trained.train_rows
    assert v.roc_auc > 0.97 and v.pr_auc > 0.7
    # The threshold is the lowest whose validation precision reaches the target.
    assert trained.target_met and v.precision >= train.PRECISION_TARGET
    assert v.recall > 0.5
    assert trained.train_window[1] < trained.validation_window[0]
    assert 1 <= trained.booster.num_trees() <= train.MAX_TREES
    meta = trained.metadata()
    assert meta["validation"]["true_positives"] == v.true_positives
    assert meta["params"]["min_child_samples"] >= 100
    # History features carry weight: the model is not just amount, category and hour.
    history = {
        k: g for k, g in trained.importance.items() if k not in {"amount", "category", "hour"}
    }
    assert sum(history.values()) > 0.2 * sum(trained.importance.values())


def test_training_without_fraud_says_what_is_missing(training_data):
    quiet = dataset.Dataset(training_data.X, np.zeros_like(training_data.y), training_data.t)
    with pytest.raises(ValueError, match=r"training window .* has 0 frauds"):
        train.train(quiet)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lacks the columns \['card_token'"):
        dataset.build(pd.DataFrame({c: [] for c in dataset.COLUMNS if c != "card_token"}))


def test_threshold_for_precision_picks_the_most_recall_at_the_target():
    y = np.array([0, 0, 1, 0, 1, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    # Flagging >= 0.5 gives 3/3 precision; >= 0.3 gives 4/5 = 0.8.
    assert threshold_for_precision(y, scores, 0.8) == (0.3, True)
    assert threshold_for_precision(y, scores, 0.9) == (0.5, True)
    ev = evaluate(y, scores, 0.3)
    assert (ev.true_positives, ev.false_positives, ev.false_negatives) == (4, 1, 0)
    assert ev.precision == 0.8 and ev.recall == 1.0


def test_a_target_no_threshold_reaches_is_reported_not_met():
    y = np.array([0, 1, 0, 1])
    scores = np.array([0.9, 0.8, 0.2, 0.1])
    threshold, met = threshold_for_precision(y, scores, 0.8)
    # The best precision there is, 1/2, with the most recall: flag everything from 0.1 up.
    assert not met and threshold == 0.1


def test_evaluation_needs_both_classes():
    with pytest.raises(ValueError, match="both fraud and legitimate"):
        evaluate(np.zeros(5), np.zeros(5), 0.5)
