"""The scorer on a document worked out by hand: scores, missing values, contributions, refusals."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from treemodel import TreeModel

from .documents import small_document

BOTH = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "walk"])
NAN, INF = math.nan, math.inf


@BOTH
@pytest.mark.parametrize(
    ("row", "raw"),
    [
        # base 0.1 + tree 0 + tree 1 (0.25) + tree 2
        ([0.5, 2.0, 3.0], 0.1 - 0.1 + 0.25 + 0.7),
        ([0.5, 0.0, -1.0], 0.1 + 0.4 + 0.25 - 0.6),  # category 0 is not in {1, 2}
        ([1.0, 1.0, -1e-30], 0.1 - 0.1 + 0.25 - 0.6),  # a == threshold goes left
        ([1.0000001, 1.0, -1.0], 0.1 + 1.5 + 0.25 - 0.6),
        ([0.5, 2.7, -1.0], 0.1 - 0.1 + 0.25 - 0.6),  # a category is truncated: 2.7 is 2
        ([0.5, -1.0, -1.0], 0.1 + 0.4 + 0.25 - 0.6),  # unknown category (-1) goes right
        ([0.5, 1e12, -1.0], 0.1 + 0.4 + 0.25 - 0.6),
        ([0.5, 2.0, 0.0], 0.1 - 0.1 + 0.25 + 0.7),  # zero is missing: default side (right)
        ([0.5, 2.0, -1e-36], 0.1 - 0.1 + 0.25 + 0.7),  # |b| <= 1e-35f counts as zero
        ([0.5, 2.0, NAN], 0.1 - 0.1 + 0.25 + 0.7),  # NaN is zero for a "Zero" split
        ([NAN, 2.0, -1.0], 0.1 - 0.1 + 0.25 - 0.6),  # NaN is 0.0 for a "None" split
        ([0.5, NAN, -1.0], 0.1 + 0.4 + 0.25 - 0.6),  # a NaN category goes right
        ([0.5, INF, -1.0], 0.1 + 0.4 + 0.25 - 0.6),
        ([INF, 1.0, -INF], 0.1 + 1.5 + 0.25 - 0.6),
    ],
)
def test_scores_by_lightgbm_s_rules(row: list[float], raw: float, compiled: bool) -> None:
    model = TreeModel(small_document(), compiled=compiled)
    assert model.raw_score(row) == pytest.approx(raw, abs=1e-12)
    assert model.predict(row) == pytest.approx(1 / (1 + math.exp(-raw)), abs=1e-12)


def test_sigmoid_parameter_scales_the_margin() -> None:
    doc = small_document()
    doc["sigmoid"] = 2.0
    model = TreeModel(doc)
    assert model.predict([0.5, 2.0, 3.0]) == pytest.approx(1 / (1 + math.exp(-1.9)), abs=1e-12)


def test_extreme_margins_give_probabilities_not_errors() -> None:
    doc = small_document()
    doc["trees"][1]["leaf_value"] = [-2000.0]
    assert 0.0 <= TreeModel(doc).predict([0.5, 2.0, 3.0]) < 1e-300
    doc["trees"][1]["leaf_value"] = [2000.0]
    assert TreeModel(doc).predict([0.5, 2.0, 3.0]) == 1.0


def test_attributes_come_from_the_document() -> None:
    model = TreeModel(small_document())
    assert model.version == "small-1"
    assert model.threshold == 0.7
    assert model.features == ("a", "category", "b")
    assert model.categories == {"category": ("x", "y", "z")}
    assert model.metadata == {"note": "hand-made"}
    assert model.compiled is True


def test_contributions_follow_the_path() -> None:
    """Tree 0: the root (0.5) to node 1 (0.2) is a's -0.3, node 1 to leaf -0.1 the category's
    -0.3; tree 2: root 0.0 to leaf 0.7 is b's; the bias is 0.1 + 0.5 + 0.25 + 0.0."""
    model = TreeModel(small_document())
    bias, contributions = model.contributions([0.5, 2.0, 3.0])
    assert bias == pytest.approx(0.85, abs=1e-12)
    assert contributions == pytest.approx([-0.3, -0.3, 0.7], abs=1e-12)
    bias, contributions = model.contributions([3.0, NAN, 0.0])
    assert contributions == pytest.approx([1.0, 0.0, 0.7], abs=1e-12)
    assert bias + sum(contributions) == pytest.approx(model.raw_score([3.0, NAN, 0.0]), abs=1e-12)


@pytest.mark.parametrize("row", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], []])
def test_a_row_of_the_wrong_length_is_refused(row: list[float]) -> None:
    for model in (TreeModel(small_document()), TreeModel(small_document(), compiled=False)):
        message = f"a feature row must be 3 numbers in the model's order; got {len(row)} values"
        for score in (model.raw_score, model.predict, model.contributions):
            with pytest.raises(ValueError, match=message):
                score(row)


def tree0(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["trees"][0]


def change(path: str, value: Any):
    """A change to a copy of the small document: ``path`` like "trees.0.threshold.0"."""

    def apply(doc: dict[str, Any]) -> Any:
        *parents, last = path.split(".")
        target: Any = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        elif value is DELETE:
            del target[last]
        else:
            target[last] = value
        return doc

    return apply


DELETE = object()

BAD = [
    (lambda doc: [doc], "a model document is a JSON object, not list"),
    (change("format", "lightgbm"), "not a model document: format must be 'txviz-tree-ensemble'"),
    (change("format", DELETE), "not a model document"),
    (change("format_version", 2), "unsupported format_version: this scorer reads 1"),
    (change("format_version", True), "unsupported format_version"),
    (change("trees", DELETE), "model document lacks trees"),
    (change("version", ""), "model version must be a non-empty string"),
    (change("threshold", 1.5), r"threshold must be a probability in \[0, 1\]"),
    (change("threshold", "0.5"), "threshold must be a finite number"),
    (change("features", ["a", "a", "b"]), "features must be a non-empty list of distinct names"),
    (change("categories", {"c": ["x"]}), "categories names a feature the model does not have"),
    (change("categories.category", "xyz"), "categories of a feature must be a list of names"),
    (change("metadata", []), "metadata must be an object"),
    (change("objective", "regression"), "only a binary classifier's document can be scored"),
    (change("sigmoid", 0), "sigmoid must be positive"),
    (change("base_score", None), "base_score must be a finite number"),
    (change("trees", []), "trees must be a non-empty list"),
    (change("trees.0", [1, 2]), "tree 0: a tree is an object of parallel arrays"),
    (change("trees.0.leaf_value", DELETE), "tree 0: leaf_value must be a list"),
    (change("trees.0.split_feature.0", 3), r"tree 0 node 0: split_feature is not a feature index"),
    (change("trees.0.split_feature.0", -1), "tree 0 node 0: split_feature is not a feature index"),
    (change("trees.0.split_feature.0", 0.0), "tree 0 node 0: split_feature is not a feature index"),
    (change("trees.0.threshold.0", "1.0"), "tree 0 node 0: threshold must be a finite number"),
    (change("trees.0.threshold.0", "__import__('os')"), "tree 0 node 0: threshold must be a"),
    (change("trees.0.threshold.0", NAN), "tree 0 node 0: threshold must be a finite number"),
    (change("trees.0.threshold.0", True), "tree 0 node 0: threshold must be a finite number"),
    (change("trees.0.threshold.0", [1]), "tree 0 node 0: threshold must be a finite number"),
    (change("trees.0.threshold.1", [3]), r"tree 0 node 1: category index outside 0..2"),
    (change("trees.0.threshold.1", ["1"]), r"tree 0 node 1: category index outside 0..2"),
    (change("trees.0.threshold.1", []), "tree 0 node 1: a categorical threshold is a non-empty"),
    (change("trees.0.split_feature.1", 0), "tree 0 node 1: a categorical split on a feature with"),
    (change("trees.0.decision_type.0", "<"), "tree 0 node 0: decision_type must be '<=' or '=='"),
    (change("trees.0.missing_type.0", "Null"), "tree 0 node 0: missing_type must be one of"),
    (change("trees.0.default_left.0", 1), "tree 0 node 0: default_left must be true or false"),
    (change("trees.0.left_child.1", -3), "tree 0: nodes and leaves must form one tree"),
    (change("trees.0.left_child.1", 0), "tree 0: nodes and leaves must form one tree"),
    (change("trees.0.left_child.1", 1), "tree 0: nodes and leaves must form one tree"),
    (change("trees.0.right_child.0", -4), "tree 0: a child is neither a node 0..1 nor a leaf"),
    (change("trees.0.right_child.0", 2), "tree 0: a child is neither a node 0..1 nor a leaf"),
    (change("trees.0.internal_value", [0.5]), "tree 0: internal_value has 1 entries, split_fea"),
    (change("trees.0.leaf_value", [0.1, 0.2]), "tree 0: a tree with 2 splits has 3 leaf values"),
    (change("trees.0.leaf_value.2", "x"), "tree 0: leaf_value must be a finite number"),
    (change("trees.2.internal_value.0", INF), "tree 2: internal_value must be a finite number"),
]


@pytest.mark.parametrize(("bad", "message"), BAD)
def test_a_bad_document_is_refused_with_what_is_wrong(bad, message: str) -> None:
    doc = bad(copy.deepcopy(small_document()))
    with pytest.raises(ValueError, match=message):
        TreeModel(doc)


def test_a_cycle_apart_from_the_root_is_refused() -> None:
    """Every node referenced once, but nodes 1 and 2 point at each other, unreachable."""
    doc = small_document()
    doc["trees"][0] = {
        "split_feature": [0, 0, 0],
        "decision_type": ["<="] * 3,
        "threshold": [1.0] * 3,
        "missing_type": ["None"] * 3,
        "default_left": [True] * 3,
        "left_child": [-1, 2, 1],
        "right_child": [-2, -3, -4],
        "internal_value": [0.0] * 3,
        "leaf_value": [0.0] * 4,
    }
    with pytest.raises(ValueError, match="tree 0: nodes and leaves must form one tree"):
        TreeModel(doc)


def test_document_text_never_becomes_code() -> None:
    """Names are data: a model whose names are Python scores like any other."""
    plain = TreeModel(small_document())
    doc = small_document()
    hostile = "__import__('os').system('false')"
    doc["features"] = [hostile, "x0 or 1", "}); raise SystemExit("]
    doc["categories"] = {"x0 or 1": [hostile, "'", "\\"]}
    doc["version"] = hostile
    model = TreeModel(json.loads(json.dumps(doc)))
    assert model.compiled is True
    for row in ([0.5, 2.0, 3.0], [3.0, 0.0, -1.0], [0.5, 1.0, 0.0]):
        assert model.raw_score(row) == plain.raw_score(row)


def chain(depth: int) -> dict[str, Any]:
    """A document whose one tree splits ``a <= i`` at node i, going right each time: a row
    with a = k ends in leaf k (value k) for k < depth, else in leaf ``depth``."""
    doc = small_document()
    doc["base_score"] = 0.0
    doc["trees"] = [
        {
            "split_feature": [0] * depth,
            "decision_type": ["<="] * depth,
            "threshold": [float(i) for i in range(depth)],
            "missing_type": ["None"] * depth,
            "default_left": [True] * depth,
            "left_child": [~i for i in range(depth)],
            "right_child": [*range(1, depth), ~depth],
            "internal_value": [0.0] * depth,
            "leaf_value": [float(i) for i in range(depth + 1)],
        }
    ]
    return doc


@pytest.mark.parametrize(("depth", "compiled"), [(60, True), (61, False)])
def test_a_tree_too_deep_to_compile_is_walked(depth: int, compiled: bool) -> None:
    model = TreeModel(chain(depth))
    assert model.compiled is compiled
    assert [model.raw_score([a, 0.0, 0.0]) for a in (0.0, 7.5, 59.0, 1e6)] == [
        0.0,
        8.0,
        59.0,
        depth,
    ]
