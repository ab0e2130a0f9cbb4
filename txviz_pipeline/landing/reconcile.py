"""Did every record a replay sent come out of Firehose? Reconciliation per replay.

Every record the replay sends carries its ``replay_id`` (ingest/replay/send.py tags it; the
processor passes it through to landing and quarantine lines), so one replay's records can be
told apart from any other's. For a replay that handled dataset rows ``[0, rows)``:

    rows sent  =  landed Ok  +  quarantined  +  processing-failed  +  dropped   (per distinct row)
    rows       =  rows sent  +  dead-lettered by the replay

and anything missing from the right-hand side is named by row_id. Quarantined rows are the
processor's refusals (``quarantine/``, redacted, with their reason); processing-failed rows are
those of failed processor invocations (``errors/processing-failed/``). A row the replay
dead-lettered and later re-sent (``txviz replay --resend-dead-letters``) counts once, where it
ended up, and is reported as ``resent``. The processor drops a record only as a byte-identical
twin of another in the same delivery, which the replay never sends, so ``dropped`` is zero for
replays; duplicates (at-least-once redelivery) are counted apart.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
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
    QUARANTINE_PREFIX,
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
    quarantined: int = 0  # refused by the processor, kept redacted under quarantine/
    processing_failed: int = 0  # in failed processor invocations, under errors/processing-failed/
    dropped: int = 0
    dead_lettered: int = 0  # dead-lettered by the replay and not (yet) re-sent
    resent: int = 0  # dead-lettered, then re-sent and accounted for above
    duplicates: int = 0  # extra copies of rows that came out more than once
    missing: list[int] = field(default_factory=list)  # row_ids accounted for nowhere
    failure_reasons: dict[str, int] = field(default_factory=dict)  # reason code -> rows

    @property
    def reconciles(self) -> bool:
        return not self.missing and self.sent == (
            self.landed_ok + self.quarantined + self.processing_failed + self.dropped
        )

    def describe(self) -> str:
        text = (
            f"replay {self.replay_id}: {self.rows:,} rows = {self.sent:,} sent + "
            f"{self.dead_lettered:,} dead-lettered; sent = {self.landed_ok:,} Ok + "
            f"{self.quarantined:,} quarantined + {self.processing_failed:,} processing-failed + "
            f"{self.dropped:,} dropped"
        )
        if self.resent:
            text += f" ({self.resent:,} re-sent after dead-lettering)"
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


def _reason_code(reason: object) -> str:
    return str(reason).split(":")[0][:80]


def _json_lines(bodies: Iterable[bytes]) -> Iterable[dict]:
    """Every JSON object line of ``bodies``; blank, broken and non-object lines are skipped."""
    for body in bodies:
        for line in body.splitlines():
            if not line.strip():
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj


def _quarantined_rows(bodies: Iterable[bytes], replay_id: str) -> list[tuple[int, str]]:
    """(row_id, reason code) of this replay's quarantine lines."""
    return [
        (obj["row_id"], _reason_code(obj.get("reason", "no reason given")))
        for obj in _json_lines(bodies)
        if obj.get("replay_id") == replay_id and type(obj.get("row_id")) is int
    ]


def _failed_rows(bodies: Iterable[bytes], replay_id: str) -> list[tuple[int, str]]:
    """(row_id, reason) of this replay's records among AWS error records (failed invocations)."""
    marker = f'"replay_id":"{replay_id}"'.encode()
    found = []
    for error in _json_lines(bodies):
        try:
            raw = base64.b64decode(error["rawData"])
        except (KeyError, TypeError, ValueError):
            continue
        if marker not in raw:
            continue
        match = re.search(rb'"row_id": ?(\d+)', raw)
        if match:
            found.append(
                (int(match.group(1)), _reason_code(error.get("errorMessage", "no reason given")))
            )
    return found


def _dead_lettered_rows(bodies: Iterable[bytes]) -> list[int]:
    return [obj["row_id"] for obj in _json_lines(bodies) if type(obj.get("row_id")) is int]


def reconcile_replay(
    s3,
    bucket: str,
    *,
    replay_id: str,
    expected_row_ids: list[int],
    started_at: datetime,
    now: datetime,
) -> Reconciliation:
    """Account for every row of one replay across landing, quarantine, error and dead letters."""
    hours = int((now - started_at) / timedelta(hours=1)) + 2
    partitions = recent_partitions(now, hours)

    def bodies(prefix: str):
        for partition in partitions:
            for _key, _modified, body in iter_objects(s3, bucket, f"{prefix}{partition}/"):
                yield body

    ok = _landed_row_ids(bodies(LANDING_PREFIX), replay_id)
    quarantined = _quarantined_rows(bodies(QUARANTINE_PREFIX), replay_id)
    failed = _failed_rows(bodies(PROCESSING_FAILED_PREFIX), replay_id)
    dead = _dead_lettered_rows(
        body for _k, _m, body in iter_objects(s3, bucket, f"{REPLAY_FAILED_PREFIX}{replay_id}/")
    )
    expected = list(dict.fromkeys(expected_row_ids))
    wanted = set(expected)
    # Each row counts once, where it got furthest: landed, quarantined, failed, dead-lettered.
    ok_set = set(ok) & wanted
    quarantined_reasons = {r: reason for r, reason in quarantined if r in wanted}
    quarantined_set = set(quarantined_reasons) - ok_set
    failed_reasons = {r: reason for r, reason in failed if r in wanted}
    failed_set = set(failed_reasons) - ok_set - quarantined_set
    came_out = ok_set | quarantined_set | failed_set
    dead_set = set(dead) & wanted
    resent = dead_set & came_out
    reasons = Counter(quarantined_reasons[r] for r in quarantined_set)
    reasons.update(failed_reasons[r] for r in failed_set)
    copies = len(ok) + len(quarantined) + len(failed)
    return Reconciliation(
        replay_id=replay_id,
        rows=len(expected),
        sent=len(expected) - len(dead_set - resent),
        landed_ok=len(ok_set),
        quarantined=len(quarantined_set),
        processing_failed=len(failed_set),
        dead_lettered=len(dead_set - resent),
        resent=len(resent),
        duplicates=copies - len(came_out),
        missing=[row for row in expected if row not in came_out and row not in dead_set],
        failure_reasons=dict(reasons),
    )
