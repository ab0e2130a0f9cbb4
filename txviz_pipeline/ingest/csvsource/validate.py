"""What ``txviz validate`` reports about a Sparkov CSV: row counts, rejects with their line
and reason (the conversion's or the processor's: code, field and what was expected, never the
value), fraud rate, time range and categories."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.compute as pc

from txviz_pipeline.ingest.csvsource.blocks import Reject
from txviz_pipeline.ingest.csvsource.chunks import iter_checked_chunks
from txviz_pipeline.schema import CATEGORIES

MAX_EXAMPLES = 1_000  # malformed rows a ValidationReport keeps (all are counted)


@dataclass
class ValidationReport:
    """What ``txviz validate`` reports about a Sparkov CSV."""

    path: Path
    rows: int = 0  # data lines read (valid + malformed)
    valid_rows: int = 0
    malformed_rows: int = 0
    malformed: list[Reject] = field(default_factory=list)  # the first MAX_EXAMPLES
    problems: Counter[str] = field(default_factory=Counter)  # failing column -> rows
    fraud_rows: int = 0
    cards: int = 0
    amount_total: float = 0.0
    first_event_time: str | None = None
    last_event_time: str | None = None
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def fraud_rate(self) -> float:
        return self.fraud_rows / self.valid_rows if self.valid_rows else 0.0

    @property
    def ok(self) -> bool:
        return self.valid_rows > 0 and self.malformed_rows == 0


def validate_csv(
    path: str | os.PathLike[str], *, rows: int | None = None, now: datetime | None = None
) -> ValidationReport:
    """Check every row of a Sparkov CSV as the conversion and then the processor would at
    ``now`` (naive UTC; the current time by default) and summarise it (raises SchemaError on a
    bad header). A row is valid when the processor would accept it."""
    report = ValidationReport(path=Path(path))
    cards: set[str] = set()
    now = now or datetime.now(UTC).replace(tzinfo=None)
    for chunk in iter_checked_chunks(path, rows=rows, now=now):
        batch = chunk.rows
        report.rows += chunk.records
        report.valid_rows += batch.num_rows
        report.malformed_rows += len(chunk.rejects)
        room = MAX_EXAMPLES - len(report.malformed)
        report.malformed += chunk.rejects[: max(room, 0)]
        report.problems.update(r.column for r in chunk.rejects)
        if batch.num_rows == 0:
            continue
        report.fraud_rows += pc.sum(batch.column("is_fraud")).as_py()
        report.amount_total += pc.sum(batch.column("amt")).as_py()
        cards.update(pc.unique(batch.column("cc_num")).to_pylist())
        times = pc.min_max(batch.column("trans_date_trans_time"))
        low, high = times["min"].as_py(), times["max"].as_py()
        if report.first_event_time is None or low < report.first_event_time:
            report.first_event_time = low
        if report.last_event_time is None or high > report.last_event_time:
            report.last_event_time = high
        counts = pc.value_counts(batch.column("category"))
        report.categories.update(
            dict(
                zip(
                    counts.field("values").to_pylist(),
                    counts.field("counts").to_pylist(),
                    strict=True,
                )
            )
        )
    report.cards = len(cards)
    return report


def format_report(report: ValidationReport) -> str:
    """A human-readable summary of a ValidationReport."""
    verdict = "OK" if report.ok else ("NO VALID ROWS" if not report.valid_rows else "PROBLEMS")
    lines = [
        f"{report.path}: {verdict}",
        f"  rows            {report.rows:,}",
        f"  valid rows      {report.valid_rows:,}",
        f"  malformed rows  {report.malformed_rows:,}",
        f"  fraud rows      {report.fraud_rows:,} ({report.fraud_rate:.3%} of valid rows)",
        f"  cards           {report.cards:,}",
        f"  amount total    ${report.amount_total:,.2f}",
        f"  time range      {report.first_event_time or '-'} .. {report.last_event_time or '-'}",
        f"  categories      {len(report.categories)} seen",
    ]
    for name, count in sorted(report.categories.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"    {name:<16}{count:>12,}")
    unseen = sorted(set(CATEGORIES) - set(report.categories))
    if report.valid_rows and unseen:
        lines.append(f"    not seen: {', '.join(unseen)}")
    if report.malformed_rows:
        lines.append("  problems by column")
        for name, count in report.problems.most_common():
            lines.append(f"    {name:<28}{count:>8,}")
        shown = report.malformed[:20]
        lines.append(f"  first {len(shown)} malformed rows")
        for r in shown:
            lines.append(f"    line {r.line}: {r.reason}")
    return "\n".join(lines)
