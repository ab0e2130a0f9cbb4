"""The exported document: its shape, its size, and the boosters it refuses."""

from __future__ import annotations

import json
import math

import cardhistory
import lightgbm
import numpy as np
import pytest

from txviz_pipeline.fraud.export import model_document, model_json

from .conftest import Sample
from .rows import PARAMS

KEYS = [
    "format",
    "format_version",
    "version",
    "threshold",
    "features",
    "categories",
    "objective",
    "sigmoid",
    "base_score",
    "trees",
    "metadata",
]


def test_the_document_names_its_inputs_and_carries_every_tree(document: dict) -> None:
    assert list(document) == KEYS
    assert document["format"] == "txviz-tree-ensemble"
    assert document["format_version"] == 1
    assert (document["version"], document["threshold"]) == ("test-1", 0.5)
    assert document["features"] == list(cardhistory.FEATURES)
    assert document["categories"] == {"category": list(cardhistory.CATEGORIES)}
    assert (document["objective"], document["sigmoid"], document["base_score"]) == (
        "binary",
        1.0,
        0.0,
    )
    assert document["metadata"] == {"rows": 30_000}
    assert len(document["trees"]) == 150
    for tree in document["trees"]:
        splits = len(tree["split_feature"])
        assert splits <= 14 and len(tree["leaf_value"]) == splits + 1
        for i, decision in enumerate(tree["decision_type"]):
            categorical = tree["split_feature"][i] == cardhistory.FEATURES.index("category")
            assert decision == ("==" if categorical else "<=")
            if categorical:
                assert tree["threshold"][i] == sorted(set(tree["threshold"][i]))


def test_the_json_is_compact_and_small(document: dict) -> None:
    text = model_json(document)
    assert b"\n" not in text and b": " not in text and b", " not in text
    assert len(text) < 400_000  # measured ~180 kB for 150 trees of 15 leaves
    assert json.loads(text) == document


def booster_of(sample: Sample, names: list[str], categorical: list[str], **params):
    data = lightgbm.Dataset(
        np.asarray(sample.train_rows[:5_000]),
        np.asarray(sample.train_labels[:5_000]),
        feature_name=names,
        categorical_feature=categorical,
    )
    return lightgbm.train({**PARAMS, "min_child_samples": 20, **params}, data, num_boost_round=5)


def test_a_booster_over_other_features_is_refused(sample: Sample) -> None:
    names = [f"f{i}" for i in range(len(cardhistory.FEATURES))]
    booster = booster_of(sample, names, [])
    with pytest.raises(ValueError, match=r"the model's features \['f0', .* are not cardhistory"):
        model_document(booster, version="v", threshold=0.5, metadata={})


def test_a_category_split_as_a_number_is_refused(sample: Sample) -> None:
    booster = booster_of(sample, list(cardhistory.FEATURES), [])
    with pytest.raises(ValueError, match=r"train with categorical_feature=\['category'\]"):
        model_document(booster, version="v", threshold=0.5, metadata={})


def test_a_model_that_is_not_a_binary_classifier_is_refused(sample: Sample) -> None:
    regression = booster_of(sample, list(cardhistory.FEATURES), ["category"], objective="l2")
    with pytest.raises(ValueError, match="only a binary classifier can be exported"):
        model_document(regression, version="v", threshold=0.5, metadata={})


@pytest.mark.parametrize(
    ("metadata", "threshold", "message"),
    [
        ({"auc": math.nan}, 0.5, "the model document is not plain JSON"),
        ({"when": object()}, 0.5, "the model document is not plain JSON"),
        ({}, 1.5, r"threshold must be a probability in \[0, 1\]"),
    ],
)
def test_what_the_lambda_could_not_read_is_refused(
    booster: lightgbm.Booster, metadata: dict, threshold: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        model_document(booster, version="v", threshold=threshold, metadata=metadata)
