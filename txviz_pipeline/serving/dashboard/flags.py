"""How the dashboard words the fraud model's verdict on a transaction.

"Flagged" is the processor's ``fraud_flagged``: the score reached the threshold of the model
that scored the record (``model_version``), so a record keeps its verdict when a model with
another threshold is published later. The page never applies a threshold of its own.
"""

from __future__ import annotations

FLAGGED_LABEL = "Flagged by the model"
FLAGGED_HELP = (
    "Transactions whose fraud score reached the flag threshold of the model that scored them"
    " (each model's threshold is chosen on validation and published with it)."
)
# Scores are probabilities, and flag thresholds sit around 0.1-0.3: three decimals tell a
# score just over a threshold from one just under it.
SCORE_FORMAT = "%.3f"
