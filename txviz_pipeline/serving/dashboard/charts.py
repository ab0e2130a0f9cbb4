"""Encodings the dashboard's charts share, so every fraud-rate colour reads the same."""

from __future__ import annotations

import altair as alt


def fraud_rate_color() -> alt.Color:
    return alt.Color(
        "fraud_rate:Q",
        title="Fraud rate",
        scale=alt.Scale(scheme="orangered"),
        legend=alt.Legend(format=".1%"),
    )


def totals_tooltip(key: str) -> list:
    """``key``, then its transactions, amount and fraud rate."""
    return [
        key,
        alt.Tooltip("transactions:Q", format=","),
        alt.Tooltip("amount_total:Q", format="$,.2f", title="amount"),
        alt.Tooltip("fraud_rate:Q", format=".2%", title="fraud rate"),
    ]
