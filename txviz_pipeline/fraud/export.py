"""A trained LightGBM booster as the small JSON document the processor Lambda scores with.

The document (``lambda/treemodel.py`` reads it; keys in this order):

- ``format`` ``"txviz-tree-ensemble"``, ``format_version`` 1;
- ``version`` (the model's name in S3 and in every landing record), ``threshold`` (the
  probability at which a record is flagged);
- ``features``: the input names in row order (cardhistory.FEATURES); ``categories``: per
  categorical feature, the name of each category index (cardhistory.CATEGORIES);
- ``objective`` ``"binary"``, ``sigmoid`` (LightGBM's sigmoid parameter), ``base_score`` (0.0:
  LightGBM folds its initial score into the first tree);
- ``trees``: per tree, parallel arrays over its split nodes, node 0 the root:
  ``split_feature`` (feature index), ``decision_type`` (``"<="`` or ``"=="``), ``threshold``
  (a number, or for ``"=="`` the sorted category indices that go left), ``missing_type``
  (``"None"``, ``"Zero"`` or ``"NaN"``), ``default_left``, ``left_child``/``right_child``
  (a node index, or ``~leaf`` = -1 - leaf index for a leaf), ``internal_value`` (the node's
  own score, for per-feature contributions) and ``leaf_value`` (one more than the splits);
- ``metadata``: what training reports (metrics, window, rows...).

Numbers are LightGBM's own doubles, and :func:`model_json` writes them with ``repr`` (exact
round trip) and no indentation: ~150 trees of 15 leaves take about 200 kB.
"""

from __future__ import annotations

import json
import math
from typing import Any

import lightgbm

from txviz_pipeline.fraud import processor_modules

cardhistory = processor_modules.cardhistory()
treemodel = processor_modules.treemodel()


def model_document(
    booster: lightgbm.Booster, *, version: str, threshold: float, metadata: dict[str, Any]
) -> dict[str, Any]:
    """The scorer's document for ``booster`` (up to its best iteration when it has one).

    Raises ValueError for a model the Lambda cannot score as trained: not a single binary
    classifier, features other than cardhistory.FEATURES, or the categorical feature split
    as a number.
    """
    dump = booster.dump_model()  # best_iteration's trees, or all when it is 0
    objective = str(dump.get("objective", ""))
    if dump.get("num_tree_per_iteration") != 1 or not objective.startswith("binary"):
        raise ValueError(f"only a binary classifier can be exported, not {objective!r}")
    if dump.get("average_output"):
        raise ValueError("a random-forest (average_output) model cannot be exported")
    features = list(dump["feature_names"])
    if features != list(cardhistory.FEATURES):
        raise ValueError(
            f"the model's features {features} are not cardhistory.FEATURES "
            f"{list(cardhistory.FEATURES)}: the Lambda feeds those, in that order"
        )
    categorical = [features.index(name) for name in cardhistory.CATEGORICAL_FEATURES]
    document = {
        "format": treemodel.FORMAT,
        "format_version": treemodel.FORMAT_VERSION,
        "version": version,
        "threshold": float(threshold),
        "features": features,
        "categories": {
            name: list(cardhistory.CATEGORIES) for name in cardhistory.CATEGORICAL_FEATURES
        },
        "objective": "binary",
        "sigmoid": _sigmoid(objective),
        "base_score": 0.0,
        "trees": [_tree(info, categorical) for info in dump["tree_info"]],
        "metadata": metadata,
    }
    model_json(document)  # JSON-able, no NaN or infinity in metadata
    treemodel.TreeModel(document)  # the Lambda's own checks, before anything is published
    return document


def model_json(document: dict[str, Any]) -> bytes:
    """The document as compact UTF-8 JSON; ValueError for values JSON cannot hold exactly."""
    try:
        text = json.dumps(document, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise ValueError(f"the model document is not plain JSON: {e}") from None
    return text.encode("utf-8")


def _sigmoid(objective: str) -> float:
    """LightGBM writes the binary objective as ``"binary sigmoid:1"``."""
    for part in objective.split()[1:]:
        name, _, value = part.partition(":")
        if name == "sigmoid":
            return float(value)
    return 1.0


def _tree(info: dict[str, Any], categorical: list[int]) -> dict[str, Any]:
    """One tree of LightGBM's nested dump as parallel arrays (see module docstring)."""
    splits = info["num_leaves"] - 1
    arrays: dict[str, list[Any]] = {key: [None] * splits for key in treemodel.TREE_KEYS}
    arrays["leaf_value"] = [None] * (splits + 1)
    stack = [info["tree_structure"]]
    while stack:
        node = stack.pop()
        if "split_index" not in node:
            if "leaf_coeff" in node:
                raise ValueError("linear trees cannot be exported")
            arrays["leaf_value"][node.get("leaf_index", 0)] = node["leaf_value"]
            continue
        i = node["split_index"]
        feature = node["split_feature"]
        decision = node["decision_type"]
        if (decision == treemodel.CATEGORICAL) != (feature in categorical):
            raise ValueError(
                f"feature {feature} is split with {decision!r}: train with "
                f"categorical_feature={list(cardhistory.CATEGORICAL_FEATURES)}"
            )
        threshold = node["threshold"]
        if decision == treemodel.CATEGORICAL:
            threshold = sorted(int(c) for c in str(threshold).split("||"))
        elif not math.isfinite(threshold):
            raise ValueError(f"tree {info['tree_index']}: a threshold is not finite")
        arrays["split_feature"][i] = feature
        arrays["decision_type"][i] = decision
        arrays["threshold"][i] = threshold
        arrays["missing_type"][i] = node["missing_type"]
        arrays["default_left"][i] = bool(node["default_left"])
        arrays["internal_value"][i] = node["internal_value"]
        for side in ("left_child", "right_child"):
            child = node[side]
            arrays[side][i] = (
                child["split_index"] if "split_index" in child else ~child["leaf_index"]
            )
            stack.append(child)
    return arrays
