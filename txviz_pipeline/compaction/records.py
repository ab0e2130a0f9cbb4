"""Landing NDJSON lines as Arrow tables of the landing schema, in batches of bounded size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.schema import LANDING_FIELDS, landing_record_problem

_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "list<string>": pa.list_(pa.string()),
}
MAX_REASONS = 5


def landing_arrow_schema() -> pa.Schema:
    """The Arrow schema of a landing record, derived from ``schema.LANDING_FIELDS``."""
    return pa.schema(
        [
            pa.field(name, _ARROW_TYPES[kind.rstrip("?")], nullable=kind.endswith("?"))
            for name, kind in LANDING_FIELDS.items()
        ]
    )


@dataclass
class LineTally:
    """What the parsed lines held: non-blank lines, bad ones, and a few reasons why."""

    lines: int = 0
    bad: int = 0
    reasons: list[str] = field(default_factory=list)


def landing_batches(
    lines: Iterable[bytes | str], batch_rows: int, tally: LineTally
) -> Iterator[pa.Table]:
    """The valid records of ``lines`` as tables of at most ``batch_rows`` rows; counts into tally.

    Blank lines carry no record (Firehose framing leaves one after the last ``\\n``) and are
    ignored; every other line is either a row of a batch or counted as bad.
    """
    schema = landing_arrow_schema()
    columns: dict[str, list[Any]] = {name: [] for name in LANDING_FIELDS}
    rows = 0
    for line in lines:
        if not line.strip():
            continue
        tally.lines += 1
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            reason: str | None = f"invalid JSON: {exc}"
        else:
            reason = landing_record_problem(record)
        if reason is not None:
            tally.bad += 1
            if len(tally.reasons) < MAX_REASONS:
                tally.reasons.append(reason)
            continue
        for name, values in columns.items():
            values.append(record[name])
        rows += 1
        if rows == batch_rows:
            yield _table(schema, columns)
            columns = {name: [] for name in LANDING_FIELDS}
            rows = 0
    if rows:
        yield _table(schema, columns)


def _table(schema: pa.Schema, columns: dict[str, list[Any]]) -> pa.Table:
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def parse_landing_lines(lines: Iterable[bytes | str]) -> tuple[pa.Table, int]:
    """Parse NDJSON lines into one landing table; returns (table, number of bad lines)."""
    tally = LineTally()
    tables = list(landing_batches(lines, 1 << 62, tally))
    table = pa.concat_tables(tables) if tables else landing_arrow_schema().empty_table()
    return table, tally.bad


def sort_by_event_time(table: pa.Table) -> pa.Table:
    """Order rows by (event_time, trans_num): row groups get tight event_time statistics."""
    order = pc.sort_indices(
        table, sort_keys=[("event_time", "ascending"), ("trans_num", "ascending")]
    )
    return table.take(order)
