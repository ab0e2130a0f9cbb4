"""The speed layer: records that have landed but are not yet in the local SPICE, within seconds.

The SPICE (compacted, de-duplicated Parquet) is the source of truth, but it catches up only after
a landing run, a compaction run and a SPICE run. The dashboard closes that gap by reading the
newest landing objects itself and querying the union ``SPICE ∪ fresh rows`` with the same SQL.

No record counts twice, because the layers are joined on the dataset's own key, not on which
objects or hours compaction has seen:

- every refresh opens one SPICE snapshot (the file is swapped atomically, so a snapshot is one
  complete load) and, in the same DuckDB session, keeps only landing rows whose ``trans_num`` that
  snapshot does not hold (an anti-join), then one copy per ``trans_num`` among those, by
  ``DATASET_SQL`` itself (earliest arrival hour, processed_at, row_id). So a record in a
  compacted hour and in landing, a record landed twice (at-least-once delivery) and an hour that
  is compacted between two refreshes each count once.
- the panels run on that same session, so they see exactly the snapshot the anti-join used.

Cheap on every refresh (``SpeedLayer`` lives as long as the dashboard process):

- each refresh lists only the landing hours of the last ``window_hours`` (arrival time, UTC:
  Firehose's ``YYYY/MM/dd/HH/`` keys), one ListObjectsV2 per hour, and fetches only keys it has
  not seen; a key's parsed rows are kept in memory;
- rows the SPICE holds are dropped from memory for good (the SPICE only grows: landing is
  append-only and compaction only adds parts to an hour), and a key whose rows are all in
  the SPICE is remembered by name only; keys of hours that leave the window are forgotten.

The same S3 calls work on AWS. Landing objects older than the window are not read: an hour that
compaction has not reached after ``window_hours`` shows up when it does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.compaction import ARRIVAL_HOUR_FMT, parse_landing_lines
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.serving.queries import add_trino_functions, dataset_sql
from txviz_pipeline.serving.spice import curated_schema, curated_table
from txviz_pipeline.settings import LANDING_PREFIX, PARTITION_FMT

log = logging.getLogger(__name__)

# Landing hours listed on every refresh: the current one and the two before it.
WINDOW_HOURS = 3
# The name the fresh rows are registered under in a dashboard session.
FRESH_TABLE = "speed_rows"
_FETCH_THREADS = 8
_PENDING = "speed_pending"


@dataclass(frozen=True)
class SpeedStats:
    """What one refresh of the speed layer saw (for the dashboard's status line)."""

    fresh_rows: int
    pending_objects: int
    folded_objects: int
    bad_lines: int


class SpeedLayer:
    """Fresh landing rows not yet in the SPICE; one instance per dashboard process."""

    def __init__(
        self,
        s3,
        bucket: str,
        *,
        window_hours: int = WINDOW_HOURS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self._s3 = s3
        self._bucket = bucket
        self._window_hours = window_hours
        self._clock = clock
        # key -> rows of that object that the SPICE did not hold at the last refresh.
        self._pending: dict[str, pa.Table] = {}
        # keys whose rows are all in the SPICE (or that held no valid row).
        self._folded: set[str] = set()
        self._bad_lines = 0
        self._lock = threading.Lock()

    def _hour_prefixes(self) -> list[str]:
        now = self._clock()
        return [
            f"{LANDING_PREFIX}{(now - timedelta(hours=h)).strftime(PARTITION_FMT)}/"
            for h in range(self._window_hours - 1, -1, -1)
        ]

    def _fetch(self, key: str) -> tuple[pa.Table, int]:
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        table, bad = parse_landing_lines(body.split(b"\n"))
        hour = datetime.strptime(key[len(LANDING_PREFIX) :][:13], PARTITION_FMT)
        return curated_table(table, hour.strftime(ARRIVAL_HOUR_FMT)), bad

    def poll(self) -> None:
        """Read the landing objects of the window that this process has not read yet."""
        prefixes = self._hour_prefixes()
        listed = [key for prefix in prefixes for key in iter_keys(self._s3, self._bucket, prefix)]
        new = [k for k in listed if k not in self._pending and k not in self._folded]
        if new:
            with ThreadPoolExecutor(max_workers=_FETCH_THREADS) as pool:
                for key, (table, bad) in zip(new, pool.map(self._fetch, new), strict=True):
                    self._bad_lines += bad
                    if table.num_rows:
                        self._pending[key] = table
                    else:
                        self._folded.add(key)
        # Forget hours that left the window: the SPICE has them, or will show them when it does.
        oldest = prefixes[0]
        for key in [k for k in self._pending if k < oldest]:
            del self._pending[key]
        self._folded = {k for k in self._folded if k >= oldest}

    def fresh(self, con: duckdb.DuckDBPyConnection, spice_table: str | None) -> pa.Table:
        """The rows to add to ``spice_table`` (``None``: no SPICE yet) on session ``con``.

        Drops rows the SPICE holds from memory, then returns one row per remaining trans_num,
        in the dataset's columns.
        """
        con.register(_PENDING, _concat_or_empty(self._pending.values()))
        try:
            if spice_table is not None and self._pending:
                held = con.sql(
                    f"SELECT DISTINCT p.trans_num FROM {_PENDING} AS p"
                    f" WHERE p.trans_num IN (SELECT trans_num FROM {spice_table})"
                ).to_arrow_table()
                if held.num_rows:
                    self._fold(held.column("trans_num"))
                    con.register(_PENDING, _concat_or_empty(self._pending.values()))
            add_trino_functions(con)
            return con.sql(dataset_sql(_PENDING)).to_arrow_table()
        finally:
            con.unregister(_PENDING)

    def _fold(self, held: pa.ChunkedArray) -> None:
        for key, table in list(self._pending.items()):
            rest = table.filter(pc.invert(pc.is_in(table.column("trans_num"), value_set=held)))
            if rest.num_rows:
                self._pending[key] = rest
            else:
                del self._pending[key]
                self._folded.add(key)

    def refresh(
        self, con: duckdb.DuckDBPyConnection, spice_table: str | None
    ) -> tuple[pa.Table, SpeedStats]:
        """Poll landing, then the fresh rows for the SPICE snapshot attached to ``con``."""
        with self._lock:
            self.poll()
            rows = self.fresh(con, spice_table)
            stats = SpeedStats(
                rows.num_rows, len(self._pending), len(self._folded), self._bad_lines
            )
        return rows, stats


def _concat_or_empty(tables: Iterable[pa.Table]) -> pa.Table:
    tables = list(tables)
    return pa.concat_tables(tables) if tables else curated_schema().empty_table()
