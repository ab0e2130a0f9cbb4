"""A model document small enough to work out by hand."""

from __future__ import annotations

from typing import Any


def small_document() -> dict[str, Any]:
    """Features a, category (x, y, z), b; three trees:

    - tree 0: root ``a <= 1.0`` (value 0.5); left: ``category in {1, 2}`` (value 0.2) with
      leaves -0.1 (in) and 0.4 (out); right: leaf 1.5;
    - tree 1: a single leaf, 0.25;
    - tree 2: root ``b <= 0.0`` (value 0.0), zero as missing, default right; leaves -0.6, 0.7.

    With base score 0.1, row [0.5, 2.0, 3.0] scores 0.1 - 0.1 + 0.25 + 0.7 = 0.95.
    """
    return {
        "format": "txviz-tree-ensemble",
        "format_version": 1,
        "version": "small-1",
        "threshold": 0.7,
        "features": ["a", "category", "b"],
        "categories": {"category": ["x", "y", "z"]},
        "objective": "binary",
        "sigmoid": 1.0,
        "base_score": 0.1,
        "trees": [
            {
                "split_feature": [0, 1],
                "decision_type": ["<=", "=="],
                "threshold": [1.0, [1, 2]],
                "missing_type": ["None", "NaN"],
                "default_left": [True, False],
                "left_child": [1, -1],
                "right_child": [-3, -2],
                "internal_value": [0.5, 0.2],
                "leaf_value": [-0.1, 0.4, 1.5],
            },
            {
                "split_feature": [],
                "decision_type": [],
                "threshold": [],
                "missing_type": [],
                "default_left": [],
                "left_child": [],
                "right_child": [],
                "internal_value": [],
                "leaf_value": [0.25],
            },
            {
                "split_feature": [2],
                "decision_type": ["<="],
                "threshold": [0.0],
                "missing_type": ["Zero"],
                "default_left": [False],
                "left_child": [-1],
                "right_child": [-2],
                "internal_value": [0.0],
                "leaf_value": [-0.6, 0.7],
            },
        ],
        "metadata": {"note": "hand-made"},
    }
