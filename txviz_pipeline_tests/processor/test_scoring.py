"""Every fraud rule at its boundary: the threshold itself and one cent or hour either side."""

from __future__ import annotations

import pytest
from records import process_records
from scoring import HIGH_AMOUNT_FOR_CATEGORY, HIGH_RISK_CATEGORIES, score_fraud

from .builders import TEST_KEY, b64, decode, line, record

# The rules' fixed norms, written out: a changed threshold must change a test.
CATEGORY_NORMS = {
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
RISKY = {"shopping_net", "shopping_pos", "misc_net", "misc_pos", "grocery_pos"}
DAY, NIGHT = 12, 23


def test_the_norms_and_risky_categories_are_the_documented_ones():
    assert HIGH_AMOUNT_FOR_CATEGORY == CATEGORY_NORMS
    assert HIGH_RISK_CATEGORIES == RISKY


@pytest.mark.parametrize(("amount", "fires"), [(499.99, False), (500.0, True), (500.01, True)])
def test_amount_over_500_fires_from_500(amount: float, fires: bool):
    # travel's norm is $1,500, so only this rule can fire.
    score, reasons = score_fraud(amount, "travel", DAY)
    assert reasons == (["amount_over_500"] if fires else [])
    assert score == (0.35 if fires else 0.0)


@pytest.mark.parametrize("category", sorted(CATEGORY_NORMS))
def test_high_amount_for_category_fires_only_above_the_norm(category: str):
    norm = CATEGORY_NORMS[category]
    risky = ["high_risk_category"] if category in RISKY else []
    large = ["amount_over_500"] if norm >= 500 else []
    assert score_fraud(norm - 0.01, category, DAY)[1] == large + risky
    assert score_fraud(norm, category, DAY)[1] == large + risky
    above = score_fraud(norm + 0.01, category, DAY)[1]
    assert above == large + ["high_amount_for_category"] + risky


@pytest.mark.parametrize("hour", range(24))
def test_night_is_22_00_to_03_59(hour: int):
    night = hour >= 22 or hour <= 3
    assert score_fraud(10.0, "home", hour) == ((0.15, ["night_hours"]) if night else (0.0, []))
    risky_reasons = ["night_hours", "high_risk_category_night", "high_risk_category"]
    expected = (0.4, risky_reasons) if night else (0.05, ["high_risk_category"])
    assert score_fraud(10.0, "misc_pos", hour) == expected


@pytest.mark.parametrize("category", sorted(CATEGORY_NORMS))
def test_high_risk_category_by_day_and_night(category: str):
    risky = category in RISKY
    assert score_fraud(1.0, category, DAY) == (
        (0.05, ["high_risk_category"]) if risky else (0.0, [])
    )
    night = score_fraud(1.0, category, 2)
    if risky:
        assert night == (0.4, ["night_hours", "high_risk_category_night", "high_risk_category"])
    else:
        assert night == (0.15, ["night_hours"])


@pytest.mark.parametrize(
    ("amount", "category", "hour", "score"),
    [
        (600.0, "food_dining", DAY, 0.7),  # 0.35 + 0.35
        (600.0, "food_dining", NIGHT, 0.85),  # + 0.15
        (600.0, "misc_pos", DAY, 0.75),  # 0.35 + 0.35 + 0.05
        (600.0, "misc_pos", NIGHT, 1.0),  # 1.1 capped at 1
        (350.0, "misc_pos", NIGHT, 0.75),  # 0.35 + 0.15 + 0.2 + 0.05
    ],
)
def test_score_is_the_sum_of_the_weights_capped_at_1(amount, category, hour, score):
    assert score_fraud(amount, category, hour)[0] == score


@pytest.mark.parametrize(
    ("amt", "fires"), [(499.99, False), (499.994, False), (499.995, True), (500.0, True)]
)
def test_landing_record_scores_the_amount_rounded_to_cents(amt: float, fires: bool):
    rec = record(amt=amt, category="travel", trans_date_trans_time="2019-03-05 12:00:00")
    (res,) = process_records([{"recordId": "r", "data": b64(line(rec))}], TEST_KEY.encode())
    out = decode(res.data)
    assert out["amount"] == round(amt, 2)
    assert out["fraud_reasons"] == (["amount_over_500"] if fires else [])
