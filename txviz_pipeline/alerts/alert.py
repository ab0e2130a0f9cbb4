"""One alert as people read it: subject, body, filterable attributes and a stored record.

Kinds: ``data_quality`` (a failed or warned asset check, silence during a replay included:
landing_fresh_during_replay), ``run_failure`` (a failed txviz run) and the fraud kinds
(``fraud_spike``, ``card_burst``). Every alert has a ``key`` that names what it is about (e.g.
``check:landing_transactions:bad_record_rate_below_threshold:<hour>``): repeats of one key are
held back for a cool-down, and a ``resolved`` alert with the same key says that the condition
has cleared. Alerts carry no personal data: figures, names of assets and
checks, partitions, and at most a card's token, never a card number, name or address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SEVERITIES: tuple[str, ...] = ("WARN", "ERROR")
STATUSES: tuple[str, ...] = ("open", "resolved")
# SNS limits: e-mail subjects are ASCII without line breaks, at most 100 characters.
SUBJECT_MAX_CHARS = 100
# A figure longer than this is cut: alerts summarise and link, they do not carry data.
FIGURE_MAX_CHARS = 200
# SNS message attribute values must not be empty.
NONE = "-"
_NOT_SUBJECT_SAFE = re.compile(r"[^\x20-\x7e]+")


def alert_subject(label: str, title: str) -> str:
    """An SNS subject: printable ASCII, one line, at most 100 characters."""
    subject = _NOT_SUBJECT_SAFE.sub(" ", f"[txviz {label}] {title}").strip()
    subject = re.sub(r" {2,}", " ", subject)
    if len(subject) > SUBJECT_MAX_CHARS:
        subject = subject[: SUBJECT_MAX_CHARS - 3].rstrip() + "..."
    return subject


def figure(value: Any) -> Any:
    """A figure as JSON can hold it: numbers and booleans stay, the rest become short text."""
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= FIGURE_MAX_CHARS else text[: FIGURE_MAX_CHARS - 3] + "..."


@dataclass(frozen=True)
class Alert:
    kind: str
    severity: str
    title: str
    key: str
    status: str = "open"
    asset: str = NONE
    check: str = NONE
    partition: str = NONE
    description: str = ""
    figures: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    raised_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"severity must be one of {', '.join(SEVERITIES)}, not {self.severity!r}"
            )
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if not self.kind or not self.kind.strip():
            raise ValueError("kind must name what raised the alert, e.g. 'fraud_spike'")
        if not self.title or not self.title.strip():
            raise ValueError("title must not be empty")
        object.__setattr__(self, "figures", {k: figure(v) for k, v in self.figures.items()})

    @property
    def resolved(self) -> bool:
        return self.status == "resolved"

    def subject(self) -> str:
        label = "RESOLVED" if self.resolved else self.severity
        return alert_subject(label, self.title)

    def body(self) -> str:
        """The message as a person reads it in an e-mail or a chat."""
        lines = [self.title, ""]
        if self.description:
            lines += [self.description, ""]
        lines += [
            f"Severity:  {self.severity}{' (resolved)' if self.resolved else ''}",
            f"Kind:      {self.kind}",
            f"Asset:     {self.asset}",
            f"Check:     {self.check}",
            f"Partition: {self.partition}",
        ]
        if self.figures:
            lines += ["", "Figures:"] + [f"  {k}: {v}" for k, v in self.figures.items()]
        if self.link:
            lines += ["", f"In Dagster: {self.link}"]
        lines += ["", f"Raised at {self.raised_at_text} (alert key {self.key})"]
        return "\n".join(lines)

    @property
    def raised_at_text(self) -> str:
        return self.raised_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def attributes(self) -> dict[str, str]:
        """Message attributes subscribers filter on (SNS filter policies)."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "asset": self.asset,
            "check": self.check,
            "partition": self.partition,
            "status": self.status,
        }

    def record(self) -> dict[str, Any]:
        """The alert as the dashboard reads it (store.py)."""
        return {
            **self.attributes(),
            "key": self.key,
            "title": self.title,
            "description": self.description,
            "figures": self.figures,
            "link": self.link,
            "raised_at": self.raised_at_text,
        }
