"""Where a replay remembers how far it got, so a killed replay resumes without skipping a row.

A checkpoint is a small JSON document keyed by replay id. Its ``next_row`` is the low watermark
of contiguously acknowledged batches: every dataset row (by position, 0-based) below it was
either accepted by Firehose or written to the dead letters, which the checkpoint counts apart
(``dead_lettered``, ``permanent``, and where they are: ``dead_letter_prefix`` on S3,
``dead_letter_local`` files) until ``txviz replay --resend-dead-letters`` resends them. Rows at
or above it may or may not have been sent, so a resume re-sends them (at-least-once delivery);
rows a replay could not send because the endpoint was gone are among those, never dead letters.
``complete`` means every row was accepted by Firehose: the watermark is at the end and no dead
letter is left. ``dataset_fingerprint`` identifies the dataset's content, so a resume or a
resend refuses a dataset converted again from another file.

Two stores share one interface: ``LocalCheckpointStore`` (``<checkpoint_dir>/<replay_id>.json``,
written to a temporary file and ``os.replace``d so a SIGKILL never leaves half a file) for the
embedded stack, and ``S3CheckpointStore`` (``replays/<replay_id>/checkpoint.json``; a PUT is
atomic in S3) for stateless machines on AWS. ``Watermark`` computes ``next_row`` from
acknowledgements that arrive in any order.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from txviz_pipeline.private_files import private_dir
from txviz_pipeline.schema import REPLAY_ID_PATTERN
from txviz_pipeline.settings import REPLAY_PREFIX, Settings

CHECKPOINT_VERSION = 1
_REPLAY_ID = re.compile(REPLAY_ID_PATTERN)


def validate_replay_id(replay_id: str) -> str:
    """Replay ids become file names and S3 keys: letters, digits, '.', '_' and '-' only."""
    if not _REPLAY_ID.fullmatch(replay_id):
        raise ValueError(
            f"invalid replay id {replay_id!r}: use 1-128 letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit)"
        )
    return replay_id


@dataclass
class Checkpoint:
    """Progress of one replay; counts are totals over every run of that replay id."""

    replay_id: str
    dataset: str
    dataset_rows: int
    next_row: int = 0
    rows_limit: int | None = None
    first_row_id: int | None = None
    last_row_id: int | None = None
    sent: int = 0
    retried: int = 0
    failed: int = 0
    batches: int = 0
    runs: int = 0
    complete: bool = False
    updated_at: str = ""
    version: int = CHECKPOINT_VERSION
    dataset_fingerprint: str = ""
    dead_lettered: int = 0  # rows in dead letters now (not accepted by Firehose)
    permanent: int = 0  # of those, rows Firehose can never accept (over 1,000 KiB)
    resent: int = 0  # dead letters resent and accepted since
    dead_letter_prefix: str | None = None
    dead_letter_local: list[str] = field(default_factory=list)
    stopped: str | None = None  # why the last run stopped before the end, if it did
    started_at: str = ""  # UTC, ISO 8601: when the first run of this replay began

    def done(self, end_row: int) -> bool:
        """Every row below ``end_row`` accepted by Firehose."""
        return self.next_row >= end_row and self.dead_lettered == 0

    @property
    def end_row(self) -> int:
        """The row after the last one this replay covers."""
        limit = self.rows_limit
        return self.dataset_rows if limit is None else min(limit, self.dataset_rows)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Checkpoint:
        data = json.loads(raw)
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"unsupported checkpoint version {data.get('version')!r}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class Watermark:
    """The low watermark of contiguously acknowledged batches.

    Workers acknowledge batches in any order; ``next_row`` only moves past a batch once it
    and every batch before it are acknowledged, so a resume from it never skips a row.
    """

    def __init__(self, next_row: int) -> None:
        self.next_row = next_row
        self._next_seq = 0
        self._ranges: dict[int, tuple[int, int]] = {}  # seq -> (first_row, end_row)
        self._done: set[int] = set()  # acknowledged, but an earlier batch is not yet

    def dispatched(self, seq: int, first_row: int, end_row: int) -> None:
        self._ranges[seq] = (first_row, end_row)

    def acknowledged(self, seq: int) -> int:
        """Mark batch ``seq`` done; returns its row count."""
        first_row, end_row = self._ranges[seq]
        self._done.add(seq)
        while self._next_seq in self._done:
            self._done.discard(self._next_seq)
            self.next_row = self._ranges.pop(self._next_seq)[1]
            self._next_seq += 1
        return end_row - first_row

    @property
    def outstanding(self) -> int:
        """Batches dispatched and not yet acknowledged."""
        return len(self._ranges) - len(self._done)

    def rows_done(self) -> int:
        """Rows below the watermark plus those of batches acknowledged above it."""
        return self.next_row + sum(e - f for s, (f, e) in self._ranges.items() if s in self._done)


class CheckpointStore(Protocol):
    """Loads and saves one checkpoint per replay id."""

    def load(self, replay_id: str) -> Checkpoint | None: ...

    def save(self, checkpoint: Checkpoint) -> None: ...

    def describe(self, replay_id: str) -> str: ...


class LocalCheckpointStore:
    """Checkpoints as ``<directory>/<replay_id>.json`` on the local disk."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, replay_id: str) -> Path:
        return self.directory / f"{validate_replay_id(replay_id)}.json"

    def describe(self, replay_id: str) -> str:
        return str(self.path(replay_id))

    def load(self, replay_id: str) -> Checkpoint | None:
        try:
            return Checkpoint.from_json(self.path(replay_id).read_bytes())
        except FileNotFoundError:
            return None

    def save(self, checkpoint: Checkpoint) -> None:
        target = self.path(checkpoint.replay_id)
        private_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(checkpoint.to_json())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class S3CheckpointStore:
    """Checkpoints as ``s3://<bucket>/replays/<replay_id>/checkpoint.json``."""

    def __init__(self, s3_client: Any, bucket: str, prefix: str = REPLAY_PREFIX) -> None:
        self.s3 = s3_client
        self.bucket = bucket
        self.prefix = prefix

    def key(self, replay_id: str) -> str:
        return f"{self.prefix}{validate_replay_id(replay_id)}/checkpoint.json"

    def describe(self, replay_id: str) -> str:
        return f"s3://{self.bucket}/{self.key(replay_id)}"

    def load(self, replay_id: str) -> Checkpoint | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key(replay_id))["Body"]
        except self.s3.exceptions.NoSuchKey:
            return None
        return Checkpoint.from_json(body.read())

    def save(self, checkpoint: Checkpoint) -> None:
        self.s3.put_object(
            Bucket=self.bucket,
            Key=self.key(checkpoint.replay_id),
            Body=checkpoint.to_json(),
            ContentType="application/json",
        )


def checkpoint_store(kind: str, settings: Settings, s3_client: Any) -> CheckpointStore:
    """The store named by ``kind``: ``"local"`` or ``"s3"``; ``"auto"``: where the settings keep
    state (S3 on AWS, where the next run may be on another machine; local when embedded)."""
    if kind == "auto":
        kind = "s3" if settings.state_in_s3 else "local"
    if kind == "local":
        return LocalCheckpointStore(settings.checkpoint_dir)
    if kind == "s3":
        return S3CheckpointStore(s3_client, settings.bucket)
    raise ValueError(f"unknown checkpoint store {kind!r}: expected 'auto', 'local' or 's3'")
