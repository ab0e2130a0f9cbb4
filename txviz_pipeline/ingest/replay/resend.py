"""Resending a replay's dead letters: ``txviz replay --resend-dead-letters REPLAY_ID``.

Dead letters are redacted, so the rows to resend come from the staged NDJSON dataset the replay
used, found through its checkpoint; a dataset converted again since (another fingerprint) is
refused, because its row ids may now name other rows. The rows are sent under the same
``replay_id``, so reconciliation finds them where the replay's rows land. Then the dead-letter
objects (S3 and the local fallback) are rewritten to hold exactly what still failed, or
deleted; the checkpoint and the manifest count what was resent and what is left. Permanent dead
letters (records Firehose can never accept) are skipped and stay. If Firehose cannot be reached
nothing is rewritten: a later resend sends the same rows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from txviz_pipeline.ingest.replay.checkpoint import Checkpoint, checkpoint_store
from txviz_pipeline.ingest.replay.deadletters import (
    DeadLetter,
    DeadLetterWriter,
    dead_letter_prefix,
    dead_letter_record,
)
from txviz_pipeline.ingest.replay.endpoint import (
    UNREACHABLE_AFTER_S,
    EndpointUnreachable,
    Reachability,
)
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.ingest.replay.plan import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    MAX_TAG_BYTES,
    Dataset,
    row_id_of,
)
from txviz_pipeline.ingest.replay.progress import ReplayEvent
from txviz_pipeline.ingest.replay.ratelimit import RateLimiter
from txviz_pipeline.ingest.replay.send import (
    RetryPolicy,
    firehose_client,
    replay_s3_client,
    send_batch,
    tagged_records,
)
from txviz_pipeline.ingest.staging import local_copy
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import REPLAY_PREFIX, Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResendResult:
    replay_id: str
    found: int  # dead letters found
    permanent: int  # of those, never resendable: skipped
    resent: int  # accepted by Firehose now
    still_failing: int  # resent and refused again: dead letters still
    dead_letter_prefix: str
    local_files: tuple[str, ...]  # dead-letter files left on the local disk
    complete: bool  # every row of the replay now accepted by Firehose
    rows: int  # dataset rows the replay has handled (its watermark)
    dataset: str
    started_at: str  # when the replay's first run began
    events: tuple[ReplayEvent, ...]

    @property
    def remaining(self) -> int:
        return self.permanent + self.still_failing


@dataclass
class _Letters:
    """One dead-letter object (``local`` False: an S3 key) and its parsed lines."""

    where: str
    local: bool
    letters: list[dict[str, Any]]


def resend_dead_letters(
    settings: Settings,
    options: ReplayOptions,
    *,
    client_factory: Callable[[Settings], Any] | None = None,
    on_event: Callable[[ReplayEvent], None] | None = None,
    unreachable_after_s: float = UNREACHABLE_AFTER_S,
) -> ResendResult:
    """Resend the dead letters of replay ``options.resend_dead_letters`` (see the module)."""
    replay_id = options.resend_dead_letters
    if not replay_id:
        raise ValueError("resend_dead_letters names no replay")
    events: list[ReplayEvent] = []

    def event(kind: str, message: str) -> None:
        events.append(ReplayEvent.now(kind, message))
        if on_event:
            on_event(events[-1])

    s3 = replay_s3_client(settings)
    store = checkpoint_store(options.checkpoint_store, settings, s3)
    cp = store.load(replay_id)
    if cp is None:
        raise ReplayError(
            f"replay {replay_id!r} has no checkpoint in {store.describe(replay_id)}: "
            "nothing to resend"
        )
    # On AWS the dataset may be staged by another machine: its copy in S3 is fetched.
    dataset = _same_dataset(cp, local_copy(cp.dataset, settings, s3))
    objects = list(_dead_letter_objects(s3, settings, replay_id))
    letters = [letter for obj in objects for letter in obj.letters]
    wanted = {int(d["row_id"]) for d in letters if not d.get("permanent")}
    permanent = {int(d["row_id"]) for d in letters if d.get("permanent")} - wanted
    lines = _dataset_lines(dataset, wanted)
    if missing := sorted(wanted - lines.keys()):
        raise ReplayError(
            f"{len(missing):,} dead letters of replay {replay_id} name rows that are not in "
            f"{dataset.path} (row_id {', '.join(map(str, missing[:5]))}); nothing was resent"
        )
    event("resending", f"resending {len(wanted):,} dead letters ({len(permanent):,} permanent)")
    try:
        still = _send(settings, options, replay_id, lines, client_factory, unreachable_after_s)
    except EndpointUnreachable as exc:
        raise ReplayError(
            f"{exc}; stopped, the dead letters are unchanged: resend them again later"
        ) from None
    locals_left = _rewrite(s3, settings, objects, still)
    resent = len(wanted) - len(still)
    cp.resent += resent
    cp.dead_lettered = len(still) + len(permanent)
    cp.permanent = len(permanent)
    cp.dead_letter_local = locals_left
    cp.complete = cp.done(cp.end_row)
    store.save(cp)
    _update_manifest(s3, settings, cp)
    event(
        "resent",
        f"{resent:,} dead letters resent and accepted, {len(still):,} still failing, "
        f"{len(permanent):,} permanent left",
    )
    return ResendResult(
        replay_id=replay_id,
        found=len(wanted) + len(permanent),
        permanent=len(permanent),
        resent=resent,
        still_failing=len(still),
        dead_letter_prefix=dead_letter_prefix(replay_id),
        local_files=tuple(locals_left),
        complete=cp.complete,
        rows=cp.next_row,
        dataset=cp.dataset,
        started_at=cp.started_at,
        events=tuple(events),
    )


def _same_dataset(cp: Checkpoint, path: Path) -> Dataset:
    dataset = Dataset.open(path)
    if dataset.rows != cp.dataset_rows or cp.dataset_fingerprint not in (
        "",
        dataset.fingerprint,
    ):
        raise ReplayError(
            f"the dataset {cp.dataset} changed since replay {cp.replay_id} ran (converted "
            "again from other data?), so its rows cannot be matched to the dead letters; "
            "nothing was resent"
        )
    return dataset


def _dead_letter_objects(s3: Any, settings: Settings, replay_id: str) -> Iterator[_Letters]:
    prefix = dead_letter_prefix(replay_id)
    for key in iter_keys(s3, settings.bucket, prefix):
        if key.endswith(".ndjson"):
            body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
            yield _Letters(key, False, _parse(body))
    folder = settings.dead_letter_dir / prefix
    for path in sorted(folder.glob("*.ndjson")) if folder.is_dir() else []:
        yield _Letters(str(path), True, _parse(path.read_bytes()))


def _parse(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def _dataset_lines(dataset: Dataset, wanted: set[int]) -> dict[int, bytes]:
    """The dataset lines whose row_id is wanted, by row_id."""
    found: dict[int, bytes] = {}
    if not wanted:
        return found
    for part in dataset.parts:
        with part.path.open("rb") as f:
            for line in f:
                row_id = row_id_of(line)
                if row_id in wanted:
                    found[row_id] = line if line.endswith(b"\n") else line + b"\n"
    return found


def _send(
    settings: Settings,
    options: ReplayOptions,
    replay_id: str,
    lines: dict[int, bytes],
    client_factory: Callable[[Settings], Any] | None,
    unreachable_after_s: float,
) -> dict[int, dict[str, Any]]:
    """Send the lines tagged with ``replay_id``; returns the new dead letters by row_id."""
    client = (client_factory or firehose_client)(settings)
    retry = RetryPolicy(options.max_attempts, options.backoff_base_s, options.backoff_cap_s)
    limiter = RateLimiter(options.limits())
    reach = Reachability(unreachable_after_s)
    still: dict[int, dict[str, Any]] = {}
    for chunk in _chunks([lines[r] for r in sorted(lines)]):
        records = tagged_records(b"".join(chunk), replay_id)
        outcome = send_batch(
            client, settings.delivery_stream, records, retry=retry, limiter=limiter, reach=reach
        )
        for f in outcome.failures:
            reason = f"not accepted after {f.attempts} attempts; last error {f.code}: {f.message}"
            letter = DeadLetter(records[f.index], f.code, reason, f.attempts)
            record = dead_letter_record(letter, replay_id)
            still[int(record["row_id"])] = record
    return still


def _chunks(lines: list[bytes]) -> Iterator[list[bytes]]:
    """PutRecordBatch-sized groups: 500 records, 4 MiB with the replay_id tags."""
    chunk: list[bytes] = []
    size = 0
    for line in lines:
        cost = len(line) + MAX_TAG_BYTES
        if chunk and (len(chunk) == MAX_BATCH_RECORDS or size + cost > MAX_BATCH_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(line)
        size += cost
    if chunk:
        yield chunk


def _rewrite(
    s3: Any, settings: Settings, objects: list[_Letters], still: dict[int, dict[str, Any]]
) -> list[str]:
    """Each dead-letter object rewritten to what still failed, or deleted; a local one moves to
    S3 when it can. Returns the local files left."""
    writer = DeadLetterWriter(settings, "", s3)
    local_left: list[str] = []
    for obj in objects:
        keep = [
            d if d.get("permanent") else still[int(d["row_id"])]
            for d in obj.letters
            if d.get("permanent") or int(d["row_id"]) in still
        ]
        key = str(Path(obj.where).relative_to(settings.dead_letter_dir)) if obj.local else obj.where
        if keep:
            body = ("\n".join(json.dumps(d) for d in keep) + "\n").encode()
            written = writer.write_key(key, body)
            if written:
                local_left.append(written)
        if obj.local and not (keep and written == obj.where):
            Path(obj.where).unlink(missing_ok=True)
        elif not obj.local and not keep:
            s3.delete_object(Bucket=settings.bucket, Key=key)
    return local_left


def _update_manifest(s3: Any, settings: Settings, cp: Checkpoint) -> None:
    key = f"{REPLAY_PREFIX}{cp.replay_id}/manifest.json"
    try:
        manifest = json.loads(s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return
    manifest.update(
        complete=cp.complete,
        dead_lettered=cp.dead_lettered,
        permanent=cp.permanent,
        resent=cp.resent,
        dead_letter_local=cp.dead_letter_local,
    )
    s3.put_object(
        Bucket=settings.bucket,
        Key=key,
        Body=json.dumps(manifest, indent=2).encode(),
        ContentType="application/json",
    )
