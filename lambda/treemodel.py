"""The fraud model in the Lambda: a boosted tree ensemble read from its JSON document.

``txviz_pipeline/fraud/export.py`` writes the document from a trained LightGBM booster; this
module scores one feature row at a time exactly as LightGBM's own predict does (the same
comparisons, the same missing-value rules, the same sigmoid), and explains a score by the
path method: every split on the row's path moves the score from the parent's value to the
child's, and that step is credited to the split's feature.

Speed. At load, the whole forest becomes one Python function of nested conditional
expressions (``compile()`` of source built from the document's numbers only), about 10x faster
than walking the trees' arrays (``bench/bench_scorer.py``). A row holding a NaN or an infinity
takes the array walk instead, which implements LightGBM's missing-value rules node by node.

The document is validated before anything is built from it, and the generated source holds
nothing but numbers formatted here, sets of integers and fixed names, so a document cannot put
code into the function.

Standard library only, and no sibling imports: this module ships in the processor Lambda's zip
and the training package loads it by path. That is why it is one file of just over 400 lines:
validation, the compiled scorer and the array walk share the document's layout, and a split
would need sibling imports that loading by path cannot follow.
"""

from __future__ import annotations

import math
import struct
from typing import Any

FORMAT = "txviz-tree-ensemble"
FORMAT_VERSION = 1

# Decisions, as LightGBM writes them: "<=" sends a value at or below the threshold left; "=="
# sends a category in the threshold's set left.
NUMERICAL, CATEGORICAL = "<=", "=="
# What a split does with a missing value: "None" (NaN counts as 0.0), "Zero" (0.0 and NaN take
# the default side), "NaN" (NaN takes the default side).
MISSING_TYPES = ("None", "Zero", "NaN")
TREE_KEYS = (
    "split_feature",
    "decision_type",
    "threshold",
    "missing_type",
    "default_left",
    "left_child",
    "right_child",
    "internal_value",
    "leaf_value",
)
# LightGBM's kZeroThreshold: the float 1e-35f, read as a double.
ZERO_THRESHOLD = struct.unpack("f", struct.pack("f", 1e-35))[0]
# LightGBM's JSON dump writes an infinite threshold as +-1e300 (Common::AvoidInf); so does the
# document, and the scorer reads it back as infinite.
INFINITE_THRESHOLD = 1e300
# Trees deeper than this are walked, not compiled: Python's parser limits nesting.
MAX_COMPILED_DEPTH = 60
# Beyond this, exp() overflows; the probability is below 1e-300 there anyway.
EXP_LIMIT = 700.0

# Node kinds of the array walk.
_PLAIN, _ZERO, _NAN, _SET = 0, 1, 2, 3
_KIND = {"None": _PLAIN, "Zero": _ZERO, "NaN": _NAN}


class TreeModel:
    """A binary classifier's tree ensemble, loaded from a document (see module docstring).

    ``version``, ``threshold`` (the probability at which a record is flagged), ``features``
    (input names in row order), ``categories`` (per categorical feature, the name of each
    index) and ``metadata`` come from the document. ``compiled`` says whether scoring runs the
    compiled function (the default) or the array walk.
    """

    def __init__(self, document: dict[str, Any], *, compiled: bool = True) -> None:
        doc = _checked(document)
        self.version: str = doc["version"]
        self.threshold: float = doc["threshold"]
        self.features: tuple[str, ...] = doc["features"]
        self.categories: dict[str, tuple[str, ...]] = doc["categories"]
        self.metadata: dict[str, Any] = doc["metadata"]
        self._sigmoid: float = doc["sigmoid"]
        self._base: float = doc["base_score"]
        self._trees: list[_Tree] = doc["trees"]
        self._n = len(self.features)
        self.compiled = compiled and all(t.depth <= MAX_COMPILED_DEPTH for t in self._trees)
        self._raw = _compile(self) if self.compiled else self._walk_raw

    def raw_score(self, row: list[float]) -> float:
        """The ensemble's margin for one row (LightGBM's ``raw_score=True``)."""
        try:
            return self._raw(row)
        except (ValueError, IndexError):
            raise ValueError(self._row_error(row)) from None

    def predict(self, row: list[float]) -> float:
        """The fraud probability of one row: the sigmoid of its raw score."""
        try:
            z = -self._sigmoid * self._raw(row)
        except (ValueError, IndexError):
            raise ValueError(self._row_error(row)) from None
        if z > EXP_LIMIT:
            return 1.0 / (1.0 + math.exp(EXP_LIMIT))
        return 1.0 / (1.0 + math.exp(z))

    def contributions(self, row: list[float]) -> tuple[float, list[float]]:
        """``(bias, per-feature contributions)`` whose sum is ``raw_score(row)``.

        The path method: the bias is every tree's root value; at each split on the row's path
        the child's value minus the split node's value goes to the split's feature.
        """
        if len(row) != self._n:
            raise ValueError(self._row_error(row))
        bias = self._base
        out = [0.0] * self._n
        for tree in self._trees:
            if not tree.feature:
                bias += tree.leaf[0]
                continue
            value = tree.internal[0]
            bias += value
            node = 0
            while node >= 0:
                after = tree.child(node, row)
                child = tree.internal[after] if after >= 0 else tree.leaf[~after]
                out[tree.feature[node]] += child - value
                node, value = after, child
        return bias, out

    def _walk_raw(self, row: list[float]) -> float:
        """The raw score by walking every tree's arrays: LightGBM's rules, node by node."""
        if len(row) != self._n:
            raise ValueError
        total = self._base
        for tree in self._trees:
            total += tree.leaf[tree.leaf_of(row)]
        return total

    def _row_error(self, row: Any) -> str:
        try:
            size = f"{len(row)} values"
        except TypeError:
            size = f"a {type(row).__name__}"
        return f"a feature row must be {self._n} numbers in the model's order; got {size}"


class _Tree:
    """One tree's arrays: node i splits on ``feature[i]``; a child ``c < 0`` is leaf ``~c``."""

    __slots__ = (
        "feature",
        "kind",
        "threshold",
        "default_left",
        "left",
        "right",
        "internal",
        "leaf",
        "depth",
    )

    def __init__(self, feature, kind, threshold, default_left, left, right, internal, leaf):
        self.feature: list[int] = feature
        self.kind: list[int] = kind
        self.threshold: list[Any] = threshold  # a float, or a frozenset of category indices
        self.default_left: list[bool] = default_left
        self.left: list[int] = left
        self.right: list[int] = right
        self.internal: list[float] = internal
        self.leaf: list[float] = leaf
        self.depth = _depth(left, right)

    def leaf_of(self, row: list[float]) -> int:
        if not self.feature:
            return 0
        node = 0
        while node >= 0:
            node = self.child(node, row)
        return ~node

    def child(self, node: int, row: list[float]) -> int:
        """The child of ``node`` that ``row`` goes to, by LightGBM's Tree::Decision."""
        x = row[self.feature[node]]
        kind = self.kind[node]
        if kind == _SET:
            # static_cast<int>: truncation; NaN, infinities and negatives go right.
            left = math.isfinite(x) and int(x) in self.threshold[node]
        elif kind == _NAN and x != x:
            left = self.default_left[node]
        else:
            if x != x:
                x = 0.0
            if kind == _ZERO and -ZERO_THRESHOLD <= x <= ZERO_THRESHOLD:
                left = self.default_left[node]
            else:
                left = x <= self.threshold[node]
        return self.left[node] if left else self.right[node]


def _depth(left: list[int], right: list[int]) -> int:
    """The number of splits on the tree's longest path (0 for a single leaf)."""
    if not left:
        return 0
    deepest, stack = 0, [(0, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for c in (left[node], right[node]):
            if c >= 0:
                stack.append((c, depth + 1))
    return deepest


# --- compiling --------------------------------------------------------------------------------


def _compile(model: TreeModel):
    """One function ``raw(row) -> float`` for the whole forest.

    Every row value is bound to a local ``x<i>``; a categorical feature's truncation to
    ``c<i>``. A row whose sum is not finite holds a NaN or an infinity and takes the walk.
    Only integers, floats formatted with ``repr(float)`` (finite, checked) and integer sets
    enter the source.
    """
    n = model._n
    names = ", ".join(f"x{i}" for i in range(n))
    categorical = sorted(
        {t.feature[i] for t in model._trees for i, k in enumerate(t.kind) if k == _SET}
    )
    lines = [
        "def raw(row):",
        f"    {names}{',' if n == 1 else ''} = row",
        f"    s = {' + '.join(f'x{i}' for i in range(n))}",
        "    if s - s != 0.0:",
        "        return walk(row)",
        *(f"    c{i} = int(x{i})" for i in categorical),
        f"    t = {_num(model._base)}",
        *(f"    t += {_expression(tree, 0)}" for tree in model._trees),
        "    return t",
    ]
    namespace: dict[str, Any] = {"__builtins__": {"int": int}, "walk": model._walk_raw}
    exec(compile("\n".join(lines), "<treemodel>", "exec"), namespace)  # noqa: S102
    return namespace["raw"]


def _expression(tree: _Tree, node: int) -> str:
    """A tree (from ``node``) as a conditional expression over the locals of :func:`_compile`."""
    if not tree.feature:
        return _num(tree.leaf[0])
    if node < 0:
        return _num(tree.leaf[~node])
    f = int(tree.feature[node])
    kind = tree.kind[node]
    if kind == _SET:
        condition = f"c{f} in {{{', '.join(str(int(c)) for c in sorted(tree.threshold[node]))}}}"
    else:
        # Rows reaching this code are finite: an infinite threshold decides alone.
        limit = tree.threshold[node]
        condition = str(limit > 0) if math.isinf(limit) else f"x{f} <= {_num(limit)}"
        if kind == _ZERO:  # finite rows only here: NaN never reaches this code
            zero = f"{_num(-ZERO_THRESHOLD)} <= x{f} <= {_num(ZERO_THRESHOLD)}"
            if tree.default_left[node]:
                condition = f"({condition} or {zero})"
            else:
                condition = f"({condition} and not {zero})"
    left = _expression(tree, tree.left[node])
    right = _expression(tree, tree.right[node])
    return f"({left} if {condition} else {right})"


def _num(value: float) -> str:
    """A float literal that round-trips; parenthesised when negative."""
    text = repr(float(value))
    if not math.isfinite(value):  # validated away; never put 'inf' or 'nan' names in code
        raise ValueError(f"not a finite number: {text}")
    return f"({text})" if text.startswith("-") else text


# --- validating -------------------------------------------------------------------------------


def _checked(doc: Any) -> dict[str, Any]:
    """The document's parts, checked and converted; ValueError naming what is wrong."""
    if not isinstance(doc, dict):
        raise ValueError(f"a model document is a JSON object, not {type(doc).__name__}")
    if doc.get("format") != FORMAT:
        raise ValueError(f"not a model document: format must be {FORMAT!r}")
    if doc.get("format_version") != FORMAT_VERSION or isinstance(doc["format_version"], bool):
        raise ValueError(f"unsupported format_version: this scorer reads {FORMAT_VERSION}")
    missing = [
        k
        for k in ("version", "threshold", "features", "categories", "trees", "metadata")
        if k not in doc
    ]
    if missing:
        raise ValueError(f"model document lacks {', '.join(missing)}")
    version = doc["version"]
    if not isinstance(version, str) or not version:
        raise ValueError("model version must be a non-empty string")
    threshold = _number(doc["threshold"], "threshold")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError("threshold must be a probability in [0, 1]")
    features = doc["features"]
    if (
        not isinstance(features, list)
        or not features
        or not all(isinstance(f, str) and f for f in features)
        or len(set(features)) != len(features)
    ):
        raise ValueError("features must be a non-empty list of distinct names")
    categories = doc["categories"]
    if not isinstance(categories, dict):
        raise ValueError("categories must map each categorical feature to its category names")
    for name, values in categories.items():
        if name not in features:
            raise ValueError("categories names a feature the model does not have")
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise ValueError("categories of a feature must be a list of names")
    if not isinstance(doc["metadata"], dict):
        raise ValueError("metadata must be an object")
    if doc.get("objective", "binary") != "binary":
        raise ValueError("only a binary classifier's document can be scored (objective 'binary')")
    sigmoid = _number(doc.get("sigmoid", 1.0), "sigmoid")
    if sigmoid <= 0:
        raise ValueError("sigmoid must be positive")
    trees = doc["trees"]
    if not isinstance(trees, list) or not trees:
        raise ValueError("trees must be a non-empty list")
    sizes = [len(categories[f]) if f in categories else None for f in features]
    return {
        "version": version,
        "threshold": threshold,
        "features": tuple(features),
        "categories": {k: tuple(v) for k, v in categories.items()},
        "metadata": doc["metadata"],
        "sigmoid": sigmoid,
        "base_score": _number(doc.get("base_score", 0.0), "base_score"),
        "trees": [_tree(t, i, sizes) for i, t in enumerate(trees)],
    }


def _tree(raw: Any, index: int, sizes: list[int | None]) -> _Tree:
    where = f"tree {index}"
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a tree is an object of parallel arrays")
    for key in TREE_KEYS:
        if not isinstance(raw.get(key), list):
            raise ValueError(f"{where}: {key} must be a list")
    n = len(raw["split_feature"])
    for key in TREE_KEYS[1:-1]:
        if len(raw[key]) != n:
            raise ValueError(f"{where}: {key} has {len(raw[key])} entries, split_feature {n}")
    if len(raw["leaf_value"]) != n + 1:
        raise ValueError(f"{where}: a tree with {n} splits has {n + 1} leaf values")
    feature, kind, threshold, default_left = [], [], [], []
    for i in range(n):
        at = f"{where} node {i}"
        f = raw["split_feature"][i]
        if type(f) is not int or not 0 <= f < len(sizes):
            raise ValueError(f"{at}: split_feature is not a feature index 0..{len(sizes) - 1}")
        decision, missing = raw["decision_type"][i], raw["missing_type"][i]
        if missing not in MISSING_TYPES:
            raise ValueError(f"{at}: missing_type must be one of {', '.join(MISSING_TYPES)}")
        if type(raw["default_left"][i]) is not bool:
            raise ValueError(f"{at}: default_left must be true or false")
        if decision == NUMERICAL:
            kind.append(_KIND[missing])
            value = _number(raw["threshold"][i], f"{at}: threshold")
            if abs(value) >= INFINITE_THRESHOLD:
                value = math.copysign(math.inf, value)
            threshold.append(value)
        elif decision == CATEGORICAL:
            kind.append(_SET)
            threshold.append(_category_set(raw["threshold"][i], sizes[f], at))
        else:
            raise ValueError(f"{at}: decision_type must be '<=' or '=='")
        feature.append(f)
        default_left.append(raw["default_left"][i])
    left, right = raw["left_child"], raw["right_child"]
    _check_structure(left, right, n, where)
    internal = [_number(v, f"{where}: internal_value") for v in raw["internal_value"]]
    leaf = [_number(v, f"{where}: leaf_value") for v in raw["leaf_value"]]
    return _Tree(feature, kind, threshold, default_left, list(left), list(right), internal, leaf)


def _category_set(value: Any, size: int | None, at: str) -> frozenset[int]:
    if size is None:
        raise ValueError(f"{at}: a categorical split on a feature without categories")
    if not isinstance(value, list) or not value:
        raise ValueError(f"{at}: a categorical threshold is a non-empty list of category indices")
    for c in value:
        if type(c) is not int or not 0 <= c < size:
            raise ValueError(f"{at}: category index outside 0..{size - 1}")
    return frozenset(value)


def _check_structure(left: list[Any], right: list[Any], n: int, where: str) -> None:
    """Node 0 is the root; every other node and every leaf is reached exactly once from it."""
    seen_nodes, seen_leaves = {0} if n else set(), set()
    for c in (*left, *right):
        if type(c) is not int or not -(n + 1) <= c < n:
            raise ValueError(f"{where}: a child is neither a node 0..{n - 1} nor a leaf ~0..~{n}")
        target = seen_nodes if c >= 0 else seen_leaves
        key = c if c >= 0 else ~c
        if key in target or c == 0:
            raise ValueError(f"{where}: nodes and leaves must form one tree rooted at node 0")
        target.add(key)
    reached, stack = 0, [0] if n else []
    while stack:
        node = stack.pop()
        reached += 1
        stack.extend(c for c in (left[node], right[node]) if c >= 0)
    if reached != n:
        raise ValueError(f"{where}: nodes and leaves must form one tree rooted at node 0")


def _number(value: Any, what: str) -> float:
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number")
    return float(value)
