"""The Lambda's fraud scorer on one core: the compiled forest against the array walk.

Generated Sparkov transactions go through the processor and the card histories into feature
rows (as in the fraud tests); LightGBM trains on the first half with the production
parameters (150 trees of 15 leaves, "category" categorical) and the exported document scores
the other half, one ``TreeModel.predict`` per row, compiled and walked. Also: the document's
size, the time to load it, and ``contributions`` (run for flagged rows only).

    .venv/bin/python bench/bench_scorer.py [--rows 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "lambda")]

from treemodel import TreeModel  # noqa: E402

from txviz_pipeline.fraud.export import model_document, model_json  # noqa: E402
from txviz_pipeline_tests.fraud.rows import TREES, feature_rows, landing_records, train  # noqa: E402


def measure(score: Callable[[list[float]], object], rows: list[list[float]], repeats: int) -> float:
    """Best rows/s over ``repeats`` passes."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for row in rows:
            score(row)
        best = min(best, time.perf_counter() - start)
    return len(rows) / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows scored (and trained on)")
    parser.add_argument("--repeats", type=int, default=3, help="passes; the best counts")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        rows, labels = feature_rows(landing_records(Path(folder), 2 * args.rows))
    booster = train(rows[: args.rows], labels[: args.rows])
    document = model_document(booster, version="bench", threshold=0.5, metadata={})
    text = model_json(document)
    start = time.perf_counter()
    compiled = TreeModel(json.loads(text))
    load = time.perf_counter() - start
    walk = TreeModel(document, compiled=False)
    scored = rows[args.rows :]

    results = [
        ("predict, compiled forest", measure(compiled.predict, scored, args.repeats)),
        ("predict, array walk", measure(walk.predict, scored, args.repeats)),
        ("contributions (flagged rows only)", measure(compiled.contributions, scored, 1)),
    ]
    leaves = sum(len(t["leaf_value"]) for t in document["trees"])
    print(
        f"fraud scorer, one core: {len(scored)} rows, {TREES} trees, {leaves} leaves; "
        f"document {len(text) / 1000:.0f} kB, loaded and compiled in {load * 1000:.0f} ms"
    )
    print(f"{'path':<36} {'rows/s':>10} {'us/row':>8}")
    for name, rate in results:
        print(f"{name:<36} {rate:>10,.0f} {1e6 / rate:>8.1f}")
    print(f"compiled / walk: {results[0][1] / results[1][1]:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
