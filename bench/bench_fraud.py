"""Fraud score on a time-held-out window, scored by the real processor handler.

Trains the model on the first 70 % of a CSV by event time (as the ``fraud_model`` asset does:
its own most recent 15 % validates it and picks the flag threshold), then sends every row,
in event-time order and in Firehose batches of 500, through ``handler.handler`` with that model
and in-memory card histories, and evaluates the landing records of the last 30 %. The seed's
fixed rules (a copy below) are scored on the same rows as the baseline.

    .venv/bin/python bench/bench_fraud.py [--rows 1200000] [--seed 11] [--csv fraudTrain.csv]

By default the CSV is generated with another seed than the bundled model's, so no row here was
seen in training the bundled model; ``--csv`` evaluates on any Sparkov-format file.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambda"))

BATCH = 500
TRAIN_SHARE = 0.7

# The seed's fixed rules (lambda/scoring.py before the learned model), the baseline.
_HIGH_RISK = {"shopping_net", "shopping_pos", "misc_net", "misc_pos", "grocery_pos"}
_NIGHT = {22, 23, 0, 1, 2, 3}
_HIGH_FOR_CATEGORY = {
    "entertainment": 300.0,
    "food_dining": 200.0,
    "gas_transport": 150.0,
    "grocery_net": 150.0,
    "grocery_pos": 250.0,
    "health_fitness": 200.0,
    "home": 300.0,
    "kids_pets": 250.0,
    "misc_net": 400.0,
    "misc_pos": 300.0,
    "personal_care": 200.0,
    "shopping_net": 400.0,
    "shopping_pos": 400.0,
    "travel": 1500.0,
}


def rules_score(amount: float, category: str, hour: int) -> float:
    score = 0.35 * (amount >= 500) + 0.35 * (amount > _HIGH_FOR_CATEGORY[category])
    night, risky = hour in _NIGHT, category in _HIGH_RISK
    score += 0.15 * night + 0.2 * (night and risky) + 0.05 * risky
    return min(1.0, score)


def ordered_lines(csv: Path, workdir: Path) -> list[bytes]:
    """The CSV's rows as the replay sends them (NDJSON lines), in event-time order."""
    from txviz_pipeline.ingest.convert import convert_csv_to_ndjson  # noqa: PLC0415

    result = convert_csv_to_ndjson(csv, workdir / "ndjson")
    lines = [
        line + b"\n"
        for part in sorted((workdir / "ndjson").glob("part-*.ndjson"))
        for line in part.read_bytes().splitlines()
    ]
    if result.rejected:
        print(f"note: {result.rejected:,} rows rejected by conversion are not scored")
    keyed = [(orjson.loads(line), line) for line in lines]
    keyed.sort(key=lambda kl: (kl[0]["trans_date_trans_time"], kl[0]["trans_num"]))
    return [line for _, line in keyed]


# What the evaluation keeps of a landing record; a tuple of numbers and strings, so the
# 1.2M kept are no work for Python's cyclic garbage collector while the handler runs.
Scored = tuple[str, int, float, int, float, str, int]  # event_time, is_fraud, score, flag, ...


def replay(lines: list[bytes], handler) -> tuple[list[Scored], float]:
    """Every line through the handler in batches; what it scored and the seconds taken."""
    landed: list[Scored] = []
    busy = 0.0
    for b in range(0, len(lines), BATCH):
        records = [
            {"recordId": f"{b + i:012d}", "approximateArrivalTimestamp": 0, "data": ""}
            for i in range(len(lines[b : b + BATCH]))
        ]
        for rec, line in zip(records, lines[b : b + BATCH], strict=True):
            rec["data"] = base64.b64encode(line).decode("ascii")
        start = time.perf_counter()
        out = handler.handler({"invocationId": f"bench-{b}", "records": records}, None)
        busy += time.perf_counter() - start
        for r in out["records"]:
            if r.get("metadata", {}).get("partitionKeys", {}).get("zone") == "landing":
                rec = json.loads(base64.b64decode(r["data"]))
                landed.append(
                    (
                        rec["event_time"],
                        rec["is_fraud"],
                        rec["fraud_score"],
                        rec["fraud_flagged"],
                        rec["amount"],
                        rec["category"],
                        rec["hour"],
                    )
                )
    return landed, busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_200_000, help="rows to generate")
    parser.add_argument("--seed", type=int, default=11, help="generator seed")
    parser.add_argument("--csv", type=Path, help="a Sparkov CSV instead of generated rows")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    from txviz_pipeline.fraud import dataset, train  # noqa: PLC0415
    from txviz_pipeline.fraud.evaluation import evaluate  # noqa: PLC0415
    from txviz_pipeline.fraud.export import model_document  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="txviz-bench-fraud-") as tmp:
        work = Path(tmp)
        csv = args.csv
        if csv is None:
            from txviz_pipeline.generator.sparkov import generate_csv  # noqa: PLC0415

            csv = work / "generated.csv"
            generate_csv(csv, rows=args.rows, seed=args.seed)
        t0 = time.perf_counter()
        data = dataset.build(dataset.read_csv(csv))
        cut = int(len(data) * TRAIN_SHARE)
        trained = train.train(data.window(0, cut))
        held_out_from = int(data.t[cut])
        train_seconds = time.perf_counter() - t0
        document = model_document(
            trained.booster, version="bench", threshold=trained.threshold, metadata={}
        )
        model_file = work / "model.json"
        model_file.write_text(json.dumps(document))
        os.environ["TXVIZ_MODEL_FILE"] = str(model_file)
        os.environ.pop("TXVIZ_MODEL_BUCKET", None)
        os.environ.setdefault("TXVIZ_CARD_TOKEN_KEY", "bench-card-token-key-0123456789")
        logging.basicConfig(level=logging.INFO, stream=open(os.devnull, "w"))  # noqa: SIM115
        import handler  # noqa: PLC0415

        lines = ordered_lines(csv, work)
        landed, busy = replay(lines, handler)

    import cardhistory  # noqa: PLC0415

    held = [r for r in landed if cardhistory.event_seconds(r[0]) >= held_out_from]
    y = np.array([r[1] for r in held])
    model_scores = np.array([r[2] for r in held])
    flagged = np.array([r[3] for r in held])
    rules = np.array([rules_score(amount, category, hour) for *_, amount, category, hour in held])
    model_eval = evaluate(y, model_scores, trained.threshold)
    rules_eval = evaluate(y, rules, 0.5)
    assert int(flagged.sum()) == model_eval.true_positives + model_eval.false_positives
    total = time.perf_counter() - started

    print(
        f"fraud evaluation: {len(data):,} rows from {csv.name if args.csv else 'the generator'}"
        f"; trained on the first {TRAIN_SHARE:.0%} by event time ({cut:,} rows, "
        f"{trained.booster.num_trees()} trees, {train_seconds:.0f} s incl. features); "
        f"held out {len(held):,} rows with {int(y.sum()):,} fraud"
    )
    print(f"{'scorer':<34} {'ROC-AUC':>8} {'PR-AUC':>8} {'thresh':>8} {'prec':>6} {'recall':>7}")
    for name, ev in (
        ("txviz rules (seed), flag >= 0.5", rules_eval),
        ("model + card history (handler)", model_eval),
    ):
        print(
            f"{name:<34} {ev.roc_auc:>8.4f} {ev.pr_auc:>8.4f} {ev.threshold:>8.4f} "
            f"{ev.precision:>6.3f} {ev.recall:>7.3f}"
        )
    print(
        f"handler: {len(landed):,} records landed in {busy:.1f} s of handler time = "
        f"{len(landed) / busy:,.0f} records/s on one core (model, per-card memory, reasons)"
    )
    print(f"whole command: {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
