"""Fraud rules on tallied landing records: spikes over the rolling baseline, card bursts,
their cool-down and resolution, and the state's round trip through a sensor cursor."""

from datetime import UTC, datetime

import orjson

from txviz_pipeline.alerts import fraud
from txviz_pipeline.alerts.dedupe import OpenKeys
from txviz_pipeline.settings import Settings

T = fraud.Thresholds(
    window_minutes=5,
    baseline_minutes=60,
    spike_factor=3.0,
    min_flagged=5,
    min_rate=0.05,
    burst_flags=3,
    burst_minutes=10,
)
NOW = int(datetime(2026, 12, 2, 7, 0, tzinfo=UTC).timestamp() // 60)
SETTINGS = Settings(endpoint_url="http://127.0.0.1:5055", dashboard_port=8600)


def record(
    minute: int,
    flagged: bool,
    *,
    score: float = 0.05,
    card="tok-a",
    category="grocery_pos",
    state="NY",
):
    """A landing record's tallied fields; ``flagged`` is the scoring model's verdict."""
    at = datetime.fromtimestamp(minute * 60 + 7, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(
        {
            "processed_at": at,
            "fraud_score": score,
            "fraud_flagged": int(flagged),
            "card_token": card,
            "category": category,
            "state": state,
        }
    )


def tallied(lines) -> fraud.Tallies:
    tallies = fraud.Tallies()
    assert fraud.tally_lines(tallies, lines) == len([x for x in lines if x.strip()])
    return tallies


def baseline(rate_per_100: int) -> list[bytes]:
    """An hour before the window: 100 records a minute, ``rate_per_100`` of them flagged."""
    return [
        record(m, i < rate_per_100, card=f"base-{m}-{i}")
        for m in range(NOW - 64, NOW - 4)
        for i in range(100)
    ]


def by_key(findings):
    return {f.key: f for f in findings}


def test_a_flagged_rate_three_times_the_baseline_is_a_spike_overall_and_per_category():
    window = [
        record(NOW - i % 5, i < 40, card=f"w{i}", category="shopping_net") for i in range(500)
    ]
    findings = by_key(fraud.spikes(tallied(baseline(2) + window), NOW, T, SETTINGS))
    overall = findings["fraud_spike:all:all"]
    assert overall.active
    assert overall.alert.figures["flagged"] == 40
    assert overall.alert.figures["flagged_rate"] == 0.08
    assert overall.alert.figures["baseline_rate"] == 0.02
    assert overall.alert.title == "Fraud spike overall: 40 flagged, 8.0% in 5 min"
    assert "a rate of at least 6.0% (3 x the baseline, at least 5.0%)" in overall.alert.description
    assert overall.alert.attributes()["partition"] == "all=all"
    assert overall.alert.link == "http://127.0.0.1:8600"
    assert findings["fraud_spike:category:shopping_net"].active
    # grocery_pos (the baseline's category) has no records in the window.
    assert not findings["fraud_spike:category:grocery_pos"].active


def test_the_same_rate_as_the_baseline_is_no_spike():
    window = [record(NOW - i % 5, i < 10, card=f"w{i}") for i in range(500)]
    findings = by_key(fraud.spikes(tallied(baseline(2) + window), NOW, T, SETTINGS))
    assert not findings["fraud_spike:all:all"].active


def test_without_a_baseline_the_minimum_rate_and_count_decide():
    few = [record(NOW, True, card=f"c{i}") for i in range(4)] + [record(NOW, False)] * 10
    assert not by_key(fraud.spikes(tallied(few), NOW, T, SETTINGS))["fraud_spike:all:all"].active
    five = few + [record(NOW, True, card="c5")]
    assert by_key(fraud.spikes(tallied(five), NOW, T, SETTINGS))["fraud_spike:all:all"].active


def test_three_flags_on_one_card_within_ten_minutes_is_a_burst():
    lines = [record(NOW - 9, True), record(NOW - 4, True), record(NOW, True), record(NOW, False)]
    lines += [record(NOW - 20, True, card="tok-b"), record(NOW - 1, True, card="tok-b")]
    (burst,) = fraud.bursts(tallied(lines), NOW, T)
    assert burst.key == "card_burst:tok-a"
    assert burst.alert.figures == {
        "card_token": "tok-a",
        "flagged": 3,
        "burst_flags": 3,
        "burst_minutes": 10,
    }
    assert burst.alert.subject() == "[txviz ERROR] Card tok-a flagged 3 times in 10 min"


def test_the_models_verdict_counts_not_the_score():
    # Scored by a model whose threshold is 0.12: flagged with a score far under 0.5.
    low_but_flagged = [record(NOW, True, score=0.13, card="tok-low") for _ in range(3)]
    # Scored by a model whose threshold is 0.97: not flagged with a score over 0.5.
    high_but_not = [record(NOW, False, score=0.96, card="tok-high") for _ in range(3)]
    tallies = tallied(low_but_flagged + high_but_not)
    assert tallies.counts["all"]["all"] == {NOW: [6, 3]}
    assert tallies.card_flags == {"tok-low": [NOW, NOW, NOW]}
    assert [b.key for b in fraud.bursts(tallies, NOW, T)] == ["card_burst:tok-low"]


def test_a_record_without_the_models_verdict_is_not_tallied():
    old = orjson.loads(record(NOW, True, score=0.9))
    del old["fraud_flagged"]
    tallies = fraud.Tallies()
    assert fraud.tally_lines(tallies, [orjson.dumps(old)]) == 0
    assert tallies.counts == {} and tallies.card_flags == {}


def test_alerts_wait_out_the_cool_down_and_a_spike_resolves_once():
    open_keys = OpenKeys()
    spike = [record(NOW, True, card=f"c{i}") for i in range(6)]
    findings = fraud.spikes(tallied(spike), NOW, T, SETTINGS)
    first = fraud.decide(findings, open_keys, now=1000.0, cooldown_s=600)
    assert [a.key for a in first] == [
        "fraud_spike:all:all",
        "fraud_spike:category:grocery_pos",
        "fraud_spike:state:NY",
    ]
    assert fraud.decide(findings, open_keys, now=1300.0, cooldown_s=600) == []
    assert len(fraud.decide(findings, open_keys, now=1601.0, cooldown_s=600)) == 3

    calm = fraud.spikes(tallied([record(NOW, False)] * 20), NOW, T, SETTINGS)
    resolved = fraud.decide(calm, open_keys, now=1700.0, cooldown_s=600)
    assert {a.status for a in resolved} == {"resolved"} and len(resolved) == 3
    assert resolved[0].subject().startswith("[txviz RESOLVED] Fraud spike over overall")
    assert fraud.decide(calm, open_keys, now=1800.0, cooldown_s=600) == []


def test_a_card_burst_alerts_once_and_is_forgotten_when_it_ends():
    open_keys = OpenKeys()
    burst = fraud.bursts(tallied([record(NOW, True)] * 3), NOW, T)
    assert len(fraud.decide(burst, open_keys, now=1.0, cooldown_s=600)) == 1
    assert fraud.decide([], open_keys, now=2.0, cooldown_s=600) == []
    assert open_keys.alerted_at == {}


def test_state_survives_the_cursor_and_old_minutes_are_dropped():
    state = fraud.FraudState(seen='{"v":1,"seen":{}}')
    fraud.tally_lines(state.tallies, [record(NOW - 100, True), record(NOW, True), b"not json"])
    state.open.failing("card_burst:tok-a", 5.0, 60)
    again = fraud.FraudState.from_cursor(state.to_cursor())
    assert again.tallies.to_json() == state.tallies.to_json()
    assert again.open.alerted_at == {"card_burst:tok-a": 5.0}
    assert again.seen == state.seen
    again.tallies.forget_before(NOW - fraud.horizon(T))
    assert again.tallies.counts["all"]["all"] == {NOW: [1, 1]}
    assert again.tallies.card_flags == {"tok-a": [NOW]}


def test_card_flags_are_kept_for_the_burst_window_and_at_most_max_flagged_cards():
    tallies = fraud.Tallies()
    # A flood of single flags on distinct 64-character tokens, and one card two flags into a
    # burst, and one card flagged before the burst window.
    many = fraud.MAX_FLAGGED_CARDS * 3
    lines = [record(NOW - i % 5, True, card=f"{i:064x}") for i in range(many)]
    lines += [record(NOW - 20, True, card="old"), record(NOW - 1, True, card="near")] * 2
    fraud.tally_lines(tallies, lines)
    tallies.forget_before(NOW - fraud.horizon(T), cards_before=NOW - int(T.burst_minutes) + 1)
    assert len(tallies.card_flags) == fraud.MAX_FLAGGED_CARDS
    assert tallies.card_flags["near"] == [NOW - 1, NOW - 1] and "old" not in tallies.card_flags
    assert all(max(m) >= NOW - 1 for m in tallies.card_flags.values())  # the latest stay
    size = len(fraud.FraudState(tallies=tallies).to_cursor())
    assert size < 250_000, size
    # The burst rule still fires for the card it kept.
    fraud.tally_lines(tallies, [record(NOW, True, card="near")])
    assert [f.key for f in fraud.bursts(tallies, NOW, T)] == ["card_burst:near"]
