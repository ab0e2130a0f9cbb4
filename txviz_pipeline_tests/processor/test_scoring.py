"""Scoring a batch: the model's score and flag on every landing record, the card's history
before it as the features, readable reasons for the flagged ones."""

from __future__ import annotations

import cardhistory
import pytest
import scoring
from cardstore import MemoryCardStore
from records import process_records

from .builders import KEY, b64, decode, line, record


def tx(day: int, time: str, amt: float, category: str = "grocery_pos", n: int = 0) -> dict:
    return record(
        row_id=day * 100 + n,
        trans_num=f"{day:04d}{n:04d}" + "0" * 24,
        trans_date_trans_time=f"2019-02-{day:02d} {time}:00",
        amt=amt,
        category=category,
    )


def send(*recs: dict, store: MemoryCardStore) -> list[dict]:
    entries = [{"recordId": f"r{i}", "data": b64(line(r))} for i, r in enumerate(recs)]
    return [decode(res.data) for res in process_records(entries, KEY, store=store)]


def test_a_night_burst_on_a_settled_card_is_flagged_with_reasons():
    """The bundled model, out of the box: two weeks of small daytime spending, then a night of
    large online purchases on the same card."""
    store = MemoryCardStore()
    habits = [
        tx(day, f"{9 + day % 8 + j:02d}:15", 20 + day, cat, n=j)
        for day in range(1, 15)
        for j, cat in enumerate(("grocery_pos", "gas_transport"))
    ]
    quiet = send(*habits, store=store)
    burst = send(
        *(tx(15, f"23:{10 + 9 * i}", 900 + 37 * i, "shopping_net", n=i) for i in range(5)),
        store=store,
    )
    version = scoring.current_model().version
    assert {r["model_version"] for r in quiet + burst} == {version}
    assert not any(r["fraud_flagged"] for r in quiet)
    assert all(r["fraud_flagged"] for r in burst[1:]), [r["fraud_score"] for r in burst]
    threshold = scoring.current_model().threshold
    for r in quiet + burst:
        assert 0.0 <= r["fraud_score"] <= 1.0
        assert r["fraud_flagged"] == int(r["fraud_score"] >= threshold)
        assert bool(r["fraud_reasons"]) == bool(r["fraud_flagged"])
    for r in burst[1:]:
        assert 1 <= len(r["fraud_reasons"]) <= scoring.MAX_REASONS
        assert all(isinstance(x, str) and x for x in r["fraud_reasons"])


# Four earlier night-time grocery purchases on day 3 (two in the hour before 02:14), $15 on
# average; the record explained is $180 at 02:14.
HISTORY = [
    tx(3, "00:30", 10.0, n=0),
    tx(3, "01:00", 10.0, n=1),
    tx(3, "01:30", 10.0, n=2),
    tx(3, "01:50", 30.0, n=9),
]


class FixedModel:
    """A model whose contributions are given: which reasons come out, in which words."""

    version = "fixed-1"
    threshold = 0.5
    features = cardhistory.FEATURES

    def __init__(self, contributions: dict[str, float], score: float = 0.9):
        self._contributions = [contributions.get(name, 0.0) for name in self.features]
        self._score = score

    def predict(self, row: list[float]) -> float:
        return self._score

    def contributions(self, row: list[float]) -> tuple[float, list[float]]:
        return -5.0, list(self._contributions)


def _reasons_for(contributions: dict[str, float], history: list[dict], last: dict) -> list[str]:
    store = MemoryCardStore()
    model = FixedModel(contributions)
    entries = [{"recordId": f"r{i}", "data": b64(line(r))} for i, r in enumerate([*history, last])]
    *_, res = process_records(entries, KEY, model=model, store=store)
    return decode(res.data)["fraud_reasons"]


def test_reasons_are_the_three_strongest_contributions_in_words():
    history = [*HISTORY]
    last = tx(3, "02:14", 180.0, n=20)
    reasons = _reasons_for(
        {
            "tx_last_hour": 2.0,
            "amount_vs_category_usual": 3.0,
            "hour": 1.0,
            "amount": 0.5,
            "home_km": -4.0,
        },
        history,
        last,
    )
    # 4 earlier grocery purchases averaging $15: $180 is 12x; two of them in the last hour.
    assert reasons == [
        "12.0× this card's usual grocery_pos amount",
        "2 earlier purchases in the last hour",
        "at 02:14 (night)",
    ]


@pytest.mark.parametrize(
    ("feature", "words"),
    [
        ("amount", "$180.00 grocery_pos purchase"),
        ("category", "grocery_pos purchase"),
        ("home_km", "merchant 79 km from the cardholder's home"),
        ("amount_last_day", "$60.00 spent in the 24 h before"),
        ("tx_last_day", "4 earlier purchases in the last 24 h"),
        ("night_tx_last_day", "4 night-time purchases in the last 24 h"),
        ("seconds_since_previous", "24 min after the previous purchase"),
        ("amount_vs_usual", "12.0× this card's usual amount"),
        ("night_share", "100% of this card's use is at night"),
        ("card_tx_seen", "card seen 4 times before"),
    ],
)
def test_each_feature_has_words(feature, words):
    history = [*HISTORY]
    assert _reasons_for({feature: 1.0}, history, tx(3, "02:14", 180.0, n=20)) == [words]


def test_a_first_purchase_says_so():
    reasons = _reasons_for(
        {"seconds_since_previous": 2.0, "amount_vs_category_usual": 1.0}, [], tx(3, "12:00", 5.0)
    )
    assert reasons == ["first purchase on this card", "first grocery_pos purchase on this card"]


def test_an_empty_window_says_none_not_zero():
    reasons = _reasons_for(
        {"tx_last_hour": 3.0, "amount_last_day": 2.0, "night_tx_last_day": 1.0},
        [],
        tx(3, "12:00", 5.0),
    )
    assert reasons == [
        "no earlier purchase in the last hour",
        "nothing spent in the 24 h before",
        "no night-time purchase in the last 24 h",
    ]


def test_unflagged_records_have_no_reasons_and_nothing_negative_is_a_reason():
    store = MemoryCardStore()
    quiet = FixedModel({"amount": 1.0}, score=0.1)
    (res,) = process_records(
        [{"recordId": "r0", "data": b64(line(tx(3, "12:00", 5.0)))}], KEY, model=quiet, store=store
    )
    assert decode(res.data)["fraud_reasons"] == [] and decode(res.data)["fraud_flagged"] == 0
    assert _reasons_for({"amount": -1.0, "hour": -2.0}, [], tx(3, "12:00", 5.0)) == []


class CountingStore(MemoryCardStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[set[str]] = []
        self.saves = 0

    def load(self, cards):
        self.loads.append(set(cards))
        return super().load(cards)

    def save(self, histories, events):
        self.saves += 1
        return super().save(histories, events)


def test_one_history_read_and_one_write_per_batch():
    store = CountingStore()
    recs = [tx(4, f"1{i}:00", 10.0 + i, n=i) for i in range(6)]
    recs += [record(cc_num="4000123412341234", trans_num="f" * 32, row_id=99)]
    landed = send(*recs, store=store)
    assert len(store.loads) == 1 and store.saves == 1
    assert store.loads[0] == {r["card_token"] for r in landed} and len(store.loads[0]) == 2


def test_a_quarantined_record_joins_no_history():
    store = CountingStore()
    send(tx(4, "10:00", 10.0), record(amt=-5.0, trans_num="e" * 32), store=store)
    (card,) = store.loads[0]
    assert store.load([card])[card]["n"] == 1
