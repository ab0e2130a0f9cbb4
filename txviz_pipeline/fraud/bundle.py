"""Train the model the processor ships with: ``txviz train-model`` (``make model``).

The bundled model (lambda/fraud_model.json) scores every record until the ``fraud_model``
pipeline publishes one trained on the pipeline's own data. It is trained the same way, on a CSV
(by default 1.2M rows the project's generator writes with a fixed seed, so the same command
gives the same model).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from txviz_pipeline.fraud import dataset
from txviz_pipeline.fraud.registry import BUNDLED_MODEL
from txviz_pipeline.fraud.train import PRECISION_TARGET, Trained, train

DEFAULT_ROWS = 1_200_000
DEFAULT_SEED = 7


def train_bundled(
    csv: Path | None = None,
    out: Path = BUNDLED_MODEL,
    rows: int = DEFAULT_ROWS,
    seed: int = DEFAULT_SEED,
    precision_target: float = PRECISION_TARGET,
) -> tuple[Trained, dict]:
    """Train on ``csv`` (or on ``rows`` generated rows) and write the model document to ``out``."""
    from txviz_pipeline.fraud.export import model_document  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="txviz-model-") as tmp:
        if csv is None:
            from txviz_pipeline.generator.sparkov import generate_csv  # noqa: PLC0415

            csv = Path(tmp) / "generated.csv"
            generate_csv(csv, rows=rows, seed=seed)
            source = f"txviz generate --rows {rows} --seed {seed}"
        else:
            source = csv.name
        data = dataset.build(dataset.read_csv(csv))
    trained = train(data, precision_target=precision_target)
    document = model_document(
        trained.booster,
        version=f"default-{trained.version}",
        threshold=trained.threshold,
        metadata={**trained.metadata(), "trained_on": source},
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".tmp")
    partial.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(partial, out)
    return trained, document
