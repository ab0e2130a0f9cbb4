"""Did every record a replay sent come out of Firehose? Reconciliation per replay.

Every record the replay sends carries its ``replay_id`` (ingest/replay/send.py tags it; the
processor passes it through), so one replay's records can be told apart from any other's. For a
replay that handled dataset rows ``[0, rows)``:

    rows sent  =  landed Ok  +  processing-failed  +  dropped        (per distinct row)
    rows       =  rows sent  +  dead-lettered by the replay

and anything missing from the right-hand side is named by row_id. The processor drops a record
only as a byte-identical twin of another in the same delivery, which the replay never sends,
so ``dropped`` is zero for replays; duplicates (at-least-once redelivery) are counted apart.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import orjson

from txviz_pipeline.landing.checks import iter_objects
from txviz_pipeline.landing.scanner import recent_partitions
from txviz_pipeline.settings import (
    LANDING_PREFIX,
    PROCESSING_FAILED_PREFIX,
    REPLAY_FAILED_PREFIX,
)

MAX_NAMED = 20
_DATASET_ROW_ID = re.compile(rb'^\{"row_id": ?(\d+)', re.MULTILINE)


@dataclass
class Reconciliation:
    replay_id: str
    rows: int  # dataset rows the replay handled
    sent: int = 0  # rows - dead_lettered
    landed_ok: int = 0
    processing_failed: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    duplicates: int = 0  # extra copies of rows that landed more than once
    missing: list[int] = field(default_factory=list)  # row_ids accounted for nowhere
    failure_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciles(self) -> bool:
        return not self.missing and self.sent == (
            self.landed_ok + self.processing_failed + self.dropped
        )

    def describe(self) -> str:
        text = (
            f"replay {self.replay_id}: {self.rows:,} rows = {self.sent:,} sent + "
            f"{self.dead_lettered:,} dead-lettered; sent = {self.landed_ok:,} Ok + "
            f"{self.processing_failed:,} processing-failed + {self.dropped:,} dropped"
        )
        if self.missing:
            shown = ", ".join(map(str, self.missing[:MAX_NAMED]))
            more = (
                f" and {len(self.missing) - MAX_NAMED:,} more"
                if len(self.missing) > MAX_NAMED
                else ""
            )
            text += f"; MISSING {len(self.missing):,} rows: row_id {shown}{more}"
        return text


def dataset_row_ids(dataset_dir: Path, rows: int) -> list[int]:
    """row_ids of the first ``rows`` lines of an NDJSON dataset (see ingest/convert.py)."""
    manifest = orjson.loads((dataset_dir / "manifest.json").read_bytes())
    ids: list[int] = []
    for part in manifest["parts"]:
        if len(ids) >= rows:
            break
        body = (dataset_dir / part["name"]).read_bytes()
        ids.extend(int(m) for m in _DATASET_ROW_ID.findall(body))
    return ids[:rows]


def _landed_row_ids(bodies: Iterable[bytes], replay_id: str) -> list[int]:
    # Landing lines are compact JSON with row_id second and replay_id last (schema order).
    pattern = re.compile(
        rb'^\{"trans_num":"[^"]*","row_id":(\d+),.*,"replay_id":"'
        + re.escape(replay_id.encode())
        + rb'"\}$',
        re.MULTILINE,
    )
    return [int(m) for body in bodies for m in pattern.findall(body)]


def _failed_rows(bodies: Iterable[bytes], replay_id: str) -> list[tuple[int, str]]:
    """(row_id, reason) of this replay's records among AWS error records."""
    marker = f'"replay_id":"{replay_id}"'.encode()
    found = []
    for body in bodies:
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                error = orjson.loads(line)
                raw = base64.b64decode(error["rawData"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue
            if marker not in raw:
                continue
            match = re.search(rb'"row_id": ?(\d+)', raw)
            if match:
                reason = str(error.get("errorMessage", "no reason given")).split(":")[0][:80]
                found.append((int(match.group(1)), reason))
    return found


def _dead_lettered_rows(bodies: Iterable[bytes]) -> list[int]:
    rows = []
    for body in bodies:
        for line in body.splitlines():
            if line.strip():
                rows.append(int(orjson.loads(line)["row_id"]))
    return rows


def reconcile_replay(
    s3,
    bucket: str,
    *,
    replay_id: str,
    expected_row_ids: list[int],
    started_at: datetime,
    now: datetime,
) -> Reconciliation:
    """Account for every row of one replay across landing, error and dead-letter prefixes."""
    hours = int((now - started_at) / timedelta(hours=1)) + 2
    partitions = recent_partitions(now, hours)

    def bodies(prefix: str):
        for partition in partitions:
            for _key, _modified, body in iter_objects(s3, bucket, f"{prefix}{partition}/"):
                yield body

    ok = _landed_row_ids(bodies(LANDING_PREFIX), replay_id)
    failed = _failed_rows(bodies(PROCESSING_FAILED_PREFIX), replay_id)
    dead = _dead_lettered_rows(
        body for _k, _m, body in iter_objects(s3, bucket, f"{REPLAY_FAILED_PREFIX}{replay_id}/")
    )
    expected = list(dict.fromkeys(expected_row_ids))
    wanted = set(expected)
    ok_set = set(ok) & wanted
    failed_set = {r for r, _ in failed} & wanted
    dead_set = set(dead) & wanted
    reasons: dict[str, int] = {}
    for _row, reason in failed:
        reasons[reason] = reasons.get(reason, 0) + 1
    accounted = ok_set | failed_set | dead_set
    return Reconciliation(
        replay_id=replay_id,
        rows=len(expected),
        sent=len(expected) - len(dead_set),
        landed_ok=len(ok_set),
        processing_failed=len(failed_set - ok_set),
        dead_lettered=len(dead_set),
        duplicates=(len(ok) - len(ok_set)) + (len(failed) - len(failed_set)),
        missing=[row for row in expected if row not in accounted],
        failure_reasons=reasons,
    )
