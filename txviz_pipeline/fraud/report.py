"""The fraud model's evaluation as Dagster UI metadata: numbers, tables and a PR-curve plot."""

from __future__ import annotations

import base64
import io

import dagster as dg
import numpy as np

from txviz_pipeline.fraud.evaluation import Evaluation, pr_curve


def evaluation_metadata(prefix: str, ev: Evaluation) -> dict[str, dg.MetadataValue]:
    """``<prefix>roc_auc`` ... as floats and ints the UI plots across materializations."""
    return {
        f"{prefix}roc_auc": dg.MetadataValue.float(round(ev.roc_auc, 5)),
        f"{prefix}pr_auc": dg.MetadataValue.float(round(ev.pr_auc, 5)),
        f"{prefix}precision": dg.MetadataValue.float(round(ev.precision, 4)),
        f"{prefix}recall": dg.MetadataValue.float(round(ev.recall, 4)),
        f"{prefix}threshold": dg.MetadataValue.float(round(ev.threshold, 6)),
    }


def confusion_markdown(ev: Evaluation) -> str:
    return (
        "| | flagged | not flagged |\n|---|---:|---:|\n"
        f"| **fraud** | {ev.true_positives:,} | {ev.false_negatives:,} |\n"
        f"| **legitimate** | {ev.false_positives:,} | {ev.true_negatives:,} |\n"
    )


def importance_markdown(importance: dict[str, float]) -> str:
    total = sum(importance.values()) or 1.0
    rows = sorted(importance.items(), key=lambda kv: -kv[1])
    lines = ["| feature | share of gain |", "|---|---:|"]
    lines += [f"| {name} | {gain / total:.1%} |" for name, gain in rows]
    return "\n".join(lines) + "\n"


def pr_curve_markdown(
    y: np.ndarray, curves: dict[str, np.ndarray], points: dict[str, Evaluation]
) -> str:
    """A PNG of each score's precision-recall curve on the same labels, with its threshold's
    operating point, inline in markdown (the UI shows it)."""
    import matplotlib  # noqa: PLC0415 - only when a model is trained

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=90)
    try:
        for name, scores in curves.items():
            recall, precision = pr_curve(y, scores)
            ax.plot(recall, precision, label=name, linewidth=1.5)
            ev = points.get(name)
            if ev is not None:
                ax.plot([ev.recall], [ev.precision], "o", color=ax.lines[-1].get_color())
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left")
        ax.set_title("Precision-recall on the validation window")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        plt.close(fig)
    encoded = base64.b64encode(buf.getvalue()).decode("ascii")
    return f"![precision-recall curve](data:image/png;base64,{encoded})"
