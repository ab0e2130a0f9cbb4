"""Fraud alerts from the landing records: spikes over a rolling baseline and card bursts.

Landing records are the one source that is the same on the embedded stack and on AWS (the local
SPICE exists only on the embedded stack, QuickSight's only on AWS) and they are the freshest:
each record arrives with the processor's verdict ``fraud_flagged`` (its score reached the flag
threshold of the model that scored it) and ``processed_at``. Records are tallied by the minute
they were processed, overall and per category and per state; the state fits in a sensor cursor
(minutes older than the baseline are dropped, card flags older than the burst window, and
past ``MAX_FLAGGED_CARDS`` the cards with the fewest flags).

- **Spike:** in the last ``window`` minutes, at least ``min_flagged`` flagged records, and a
  flagged rate at least ``spike_factor`` times the rate of the ``baseline`` minutes before
  (and at least ``min_rate`` when there is no baseline yet).
- **Card burst:** at least ``burst_flags`` flagged records of one card token within
  ``burst_minutes``.
Silence during a replay is the landing freshness check's (landing_fresh_during_replay), which
the check alerts already cover.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from txviz_pipeline.alerts.alert import Alert
from txviz_pipeline.alerts.dedupe import OpenKeys
from txviz_pipeline.settings import Settings

# Dimensions a spike is looked for in, besides the overall figures ("all").
DIMENSIONS = ("category", "state")
ALL = "all"
CURSOR_VERSION = 1
# Cards whose flags the cursor keeps for the burst rule. Tallies per minute are bounded by the
# dimensions' values; flagged cards grow with the volume, so past this many (~200 KB of cursor)
# the cards with the fewest and oldest flags are dropped: a burst among them may go unseen.
MAX_FLAGGED_CARDS = 2_500


@dataclass(frozen=True)
class Thresholds:
    """The rules' thresholds (defaults and variables: settings.FRAUD_THRESHOLDS)."""

    window_minutes: float
    baseline_minutes: float
    spike_factor: float
    min_flagged: float
    min_rate: float
    burst_flags: float
    burst_minutes: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(**settings.fraud_thresholds)


def minute_of(processed_at: str) -> int:
    """Epoch minute of an ISO-8601 UTC time (``2026-12-02T06:51:07Z``)."""
    at = datetime.fromisoformat(processed_at.replace("Z", "+00:00"))
    return int(at.astimezone(UTC).timestamp() // 60)


@dataclass
class Tallies:
    """Per (dimension, value), per minute: [records, flagged]; per card: flagged minutes."""

    counts: dict[str, dict[str, dict[int, list[int]]]] = field(default_factory=dict)
    card_flags: dict[str, list[int]] = field(default_factory=dict)

    def add(self, record: dict) -> None:
        minute = minute_of(record["processed_at"])
        flagged = record["fraud_flagged"] == 1
        for dimension, value in [(ALL, ALL)] + [(d, str(record[d])) for d in DIMENSIONS]:
            cell = self.counts.setdefault(dimension, {}).setdefault(value, {})
            tally = cell.setdefault(minute, [0, 0])
            tally[0] += 1
            tally[1] += int(flagged)
        if flagged:
            self.card_flags.setdefault(record["card_token"], []).append(minute)

    def forget_before(self, oldest_minute: int, cards_before: int | None = None) -> None:
        """Drop minutes before ``oldest_minute``, and card flags before ``cards_before`` too
        (the burst rule's window); then keep at most ``MAX_FLAGGED_CARDS`` cards."""
        for values in self.counts.values():
            for value in list(values):
                minutes = values[value]
                for m in [m for m in minutes if m < oldest_minute]:
                    del minutes[m]
                if not minutes:
                    del values[value]
        oldest_flag = max(oldest_minute, cards_before or oldest_minute)
        for card in list(self.card_flags):
            kept = [m for m in self.card_flags[card] if m >= oldest_flag]
            if kept:
                self.card_flags[card] = kept
            else:
                del self.card_flags[card]
        if len(self.card_flags) > MAX_FLAGGED_CARDS:
            # The cards nearest a burst stay: most flags first, then the latest.
            ranked = sorted(self.card_flags.items(), key=lambda c: (len(c[1]), max(c[1])))
            self.card_flags = dict(ranked[-MAX_FLAGGED_CARDS:])

    def to_json(self) -> dict:
        return {
            "counts": {
                d: {v: {str(m): t for m, t in ms.items()} for v, ms in vs.items()}
                for d, vs in self.counts.items()
            },
            "cards": self.card_flags,
        }

    @classmethod
    def from_json(cls, data: dict | None) -> Tallies:
        if not data:
            return cls()
        counts = {
            d: {v: {int(m): t for m, t in ms.items()} for v, ms in vs.items()}
            for d, vs in data["counts"].items()
        }
        return cls(counts, {c: list(ms) for c, ms in data["cards"].items()})


@dataclass(frozen=True)
class Finding:
    """A condition of one key now: its alert if active, its resolution if not."""

    key: str
    active: bool
    alert: Alert


def _sums(minutes: dict[int, list[int]], start: int, end: int) -> tuple[int, int]:
    records = flagged = 0
    for minute, (n, f) in minutes.items():
        if start <= minute < end:
            records += n
            flagged += f
    return records, flagged


def spikes(tallies: Tallies, now_minute: int, t: Thresholds, settings: Settings) -> list[Finding]:
    """Whether each dimension value is spiking at ``now_minute`` (inclusive window end)."""
    findings = []
    window_start = now_minute - int(t.window_minutes) + 1
    baseline_start = window_start - int(t.baseline_minutes)
    for dimension, values in tallies.counts.items():
        for value, minutes in values.items():
            records, flagged = _sums(minutes, window_start, now_minute + 1)
            base_records, base_flagged = _sums(minutes, baseline_start, window_start)
            rate = flagged / records if records else 0.0
            base_rate = base_flagged / base_records if base_records else None
            bar = max(t.min_rate, t.spike_factor * base_rate) if base_rate else t.min_rate
            active = flagged >= t.min_flagged and rate >= bar
            scope = "overall" if dimension == ALL else f"{dimension} {value}"
            key = f"fraud_spike:{dimension}:{value}"
            alert = Alert(
                kind="fraud_spike",
                severity="ERROR",
                status="open" if active else "resolved",
                title=(
                    f"Fraud spike {scope}: {flagged} flagged, {rate:.1%} "
                    if active
                    else f"Fraud spike over {scope}: {flagged} flagged, {rate:.1%} "
                )
                + f"in {t.window_minutes:g} min",
                key=key,
                partition=f"{dimension}={value}",
                description=f"{flagged} of {records} transactions ({scope}) were flagged "
                f"by the fraud model in the last {t.window_minutes} minutes; "
                f"an alert needs at least {t.min_flagged} flagged and a rate of at least "
                f"{bar:.1%} ({t.spike_factor:g} x the baseline, at least {t.min_rate:.1%}).",
                figures={
                    "flagged": flagged,
                    "records": records,
                    "flagged_rate": round(rate, 5),
                    "baseline_rate": None if base_rate is None else round(base_rate, 5),
                    "baseline_records": base_records,
                    "window_minutes": t.window_minutes,
                    "baseline_minutes": t.baseline_minutes,
                    "spike_factor": t.spike_factor,
                    "min_flagged": t.min_flagged,
                    "min_rate": t.min_rate,
                },
                asset="landing_transactions",
                link=settings.dashboard_url,
            )
            findings.append(Finding(key, active, alert))
    return findings


def bursts(tallies: Tallies, now_minute: int, t: Thresholds) -> list[Finding]:
    """Cards with at least ``burst_flags`` flagged records in the last ``burst_minutes``."""
    findings = []
    start = now_minute - int(t.burst_minutes) + 1
    for card, minutes in tallies.card_flags.items():
        flags = sum(1 for m in minutes if start <= m <= now_minute)
        if flags < t.burst_flags:
            continue
        findings.append(
            Finding(
                f"card_burst:{card}",
                True,
                Alert(
                    kind="card_burst",
                    severity="ERROR",
                    title=f"Card {card[:12]} flagged {flags} times in {t.burst_minutes} min",
                    key=f"card_burst:{card}",
                    asset="landing_transactions",
                    partition=f"card_token={card}",
                    description=f"{flags} transactions of card token {card} were flagged "
                    f"by the fraud model within {t.burst_minutes} minutes; "
                    f"an alert needs {t.burst_flags}.",
                    figures={
                        "card_token": card,
                        "flagged": flags,
                        "burst_flags": t.burst_flags,
                        "burst_minutes": t.burst_minutes,
                    },
                ),
            )
        )
    return findings


def tally_lines(tallies: Tallies, lines: Iterable[bytes]) -> int:
    """Add the landing records of ``lines`` (NDJSON) to ``tallies``; returns how many."""
    import orjson

    added = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
            tallies.add(record)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # the landing checks report records that do not conform
        added += 1
    return added


@dataclass
class FraudState:
    """What the fraud sensor keeps in its cursor: landing keys seen, tallies, open alerts."""

    seen: str | None = None
    tallies: Tallies = field(default_factory=Tallies)
    open: OpenKeys = field(default_factory=OpenKeys)

    @classmethod
    def from_cursor(cls, cursor: str | None) -> FraudState:
        if not cursor:
            return cls()
        data = json.loads(cursor)
        if data.get("v") != CURSOR_VERSION:
            raise ValueError(f"unknown fraud alert cursor version {data.get('v')!r}")
        return cls(data["seen"], Tallies.from_json(data["tallies"]), OpenKeys(data["open"]))

    def to_cursor(self) -> str:
        return json.dumps(
            {
                "v": CURSOR_VERSION,
                "seen": self.seen,
                "tallies": self.tallies.to_json(),
                "open": self.open.alerted_at,
            },
            separators=(",", ":"),
        )


def decide(findings: list[Finding], open_keys: OpenKeys, now: float, cooldown_s: float):
    """The alerts to publish: active conditions past their cool-down, and the resolutions of
    spikes that were open. A card burst that ended is forgotten without a message."""
    alerts = []
    for finding in findings:
        if finding.active:
            if open_keys.failing(finding.key, now, cooldown_s):
                alerts.append(finding.alert)
        elif open_keys.passing(finding.key):
            alerts.append(finding.alert)
    active = {f.key for f in findings if f.active}
    for key in [k for k in open_keys.alerted_at if k.startswith("card_burst:")]:
        if key not in active:
            open_keys.passing(key)
    return alerts


def horizon(t: Thresholds) -> int:
    """Minutes of tallies the rules look at."""
    return int(max(t.window_minutes + t.baseline_minutes, t.burst_minutes))
