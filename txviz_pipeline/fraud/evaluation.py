"""How good a fraud score is: ranking (ROC-AUC, PR-AUC) and the flag threshold's outcome.

One evaluation serves training (the validation window), the publish check (candidate against
the current model on that same window) and the fraud benchmark (the held-out 30 %).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    precision_recall_curve,
    roc_auc_score,
)


@dataclass(frozen=True)
class Evaluation:
    rows: int
    frauds: int
    roc_auc: float
    pr_auc: float
    threshold: float
    precision: float  # of the flagged, the share that is fraud
    recall: float  # of the fraud, the share flagged
    true_positives: int
    false_positives: int
    false_negatives: int
    true_negatives: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def evaluate(y: np.ndarray, scores: np.ndarray, threshold: float) -> Evaluation:
    """The scores against the labels; ranking metrics need both classes present."""
    y = np.asarray(y, dtype=np.int8)
    scores = np.asarray(scores, dtype=np.float64)
    if len(np.unique(y)) < 2:
        raise ValueError(
            f"cannot evaluate on {len(y)} rows with {int(y.sum())} frauds: "
            "both fraud and legitimate transactions are needed"
        )
    flagged = scores >= threshold
    tn, fp, fn, tp = confusion_matrix(y, flagged, labels=[0, 1]).ravel()
    return Evaluation(
        rows=len(y),
        frauds=int(y.sum()),
        roc_auc=float(roc_auc_score(y, scores)),
        pr_auc=float(average_precision_score(y, scores)),
        threshold=float(threshold),
        precision=float(tp / (tp + fp)) if tp + fp else 0.0,
        recall=float(tp / (tp + fn)) if tp + fn else 0.0,
        true_positives=int(tp),
        false_positives=int(fp),
        false_negatives=int(fn),
        true_negatives=int(tn),
    )


def threshold_for_precision(y: np.ndarray, scores: np.ndarray, target: float) -> tuple[float, bool]:
    """The lowest threshold whose precision reaches ``target`` (so the most recall at it), and
    whether any does; if none does, the threshold of the best precision, and False."""
    precision, _, thresholds = precision_recall_curve(y, scores)
    # precision[i] is the precision of flagging scores >= thresholds[i]; the last entry is 1.0
    # for flagging nothing, which is not a threshold.
    precision = precision[:-1]
    reached = np.flatnonzero(precision >= target)
    if len(reached):
        return float(thresholds[reached[0]]), True
    return float(thresholds[int(np.argmax(precision))]), False


def pr_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) points of the precision-recall curve."""
    precision, recall, _ = precision_recall_curve(y, scores)
    return recall, precision
