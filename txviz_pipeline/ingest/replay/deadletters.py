"""A replay's dead letters: the records Firehose would not accept, redacted, and where they are.

Each is one JSON line, ``dead_letter_record``: the record through ``redact.redacted`` (no card
number, name, street or birth date; ``row_id``, ``trans_num``, ``card_last4`` and the other
fields stay) with ``reason``, ``error_code``, ``attempts``, ``replay_id`` and ``permanent``
(a record Firehose can never accept, over 1,000 KiB). A batch's dead letters are written to
``s3://<bucket>/errors/replay-failed/<replay_id>/rows-<first>-<end>.ndjson``, or, if S3 itself
fails, to the same key under ``settings.dead_letter_dir`` (0600 in 0700 folders), *before* the
worker reports the batch done, so an acknowledged batch is never lost. When state lives in S3
(AWS) there is no local fallback: the write fails the replay, and the batch is sent again on
resume.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import RECORD_TOO_LARGE, row_id_of
from txviz_pipeline.ingest.replay.send import replay_s3_client
from txviz_pipeline.private_files import private_dir, private_opener
from txviz_pipeline.redact import redacted, scrub
from txviz_pipeline.schema import REPLAY_ID_FIELD
from txviz_pipeline.settings import REPLAY_FAILED_PREFIX, Settings

logger = logging.getLogger(__name__)


class DeadLetter(NamedTuple):
    """A record given up on: the line as sent, why, and after how many attempts (0: never)."""

    line: bytes
    code: str
    reason: str
    attempts: int


def is_permanent(code: str) -> bool:
    """A record Firehose can never accept (over 1,000 KiB): resending it is pointless."""
    return code == RECORD_TOO_LARGE


def dead_letter_record(letter: DeadLetter, replay_id: str) -> dict[str, Any]:
    """One dead letter as kept at rest: the record redacted (``redact.redacted``: no card
    number, name, street or birth date) with why it failed. A line that is not a JSON object
    keeps only its ``row_id``."""
    line = letter.line[:-1] if letter.line.endswith(b"\n") else letter.line
    try:
        parsed = json.loads(line)
    except ValueError:
        parsed = None
    kept = redacted(parsed) if isinstance(parsed, dict) else {"row_id": row_id_of(line)}
    return {
        **kept,
        "reason": scrub(letter.reason),
        "error_code": letter.code,
        "attempts": letter.attempts,
        REPLAY_ID_FIELD: replay_id,
        "permanent": is_permanent(letter.code),
    }


def dead_letter_lines(letters: list[DeadLetter], replay_id: str) -> bytes:
    """NDJSON dead-letter lines, one ``dead_letter_record`` each."""
    out = [json.dumps(dead_letter_record(letter, replay_id)) for letter in letters]
    return ("\n".join(out) + "\n").encode()


def dead_letter_prefix(replay_id: str) -> str:
    """Where a replay's dead letters are: this prefix in the bucket, and under
    ``settings.dead_letter_dir`` the local copies written when S3 failed."""
    return f"{REPLAY_FAILED_PREFIX}{replay_id}/"


def dead_letter_key(replay_id: str, first_row: int, end_row: int) -> str:
    # Keyed by row range, so a resumed replay that fails the same rows rewrites the same object.
    return f"{dead_letter_prefix(replay_id)}rows-{first_row:010d}-{end_row:010d}.ndjson"


def write_local_dead_letters(path: Path, body: bytes) -> None:
    """A dead-letter file only its owner can read (0600 in 0700 folders), replaced atomically."""
    private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb", opener=private_opener) as f:
        f.write(body)
    os.replace(tmp, path)


class DeadLetterWriter:
    """Writes one batch's dead letters to S3, or to a local file if S3 itself fails."""

    def __init__(self, settings: Settings, replay_id: str, s3: Any = None) -> None:
        self.settings = settings
        self.replay_id = replay_id
        self._s3: Any = s3

    def write(self, first_row: int, end_row: int, body: bytes) -> str | None:
        """Store a batch's dead letters; returns the local path if S3 failed, else None."""
        return self.write_key(dead_letter_key(self.replay_id, first_row, end_row), body)

    def write_key(self, key: str, body: bytes) -> str | None:
        """Store dead letters as ``key``; returns the local path if S3 failed, else None."""
        settings = self.settings
        try:
            if self._s3 is None:
                self._s3 = replay_s3_client(settings)
            self._s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
            return None
        except Exception as exc:
            if settings.state_in_s3:
                # On AWS the machine's disk goes with its task: a local copy would be a lost row
                # that reconciliation reports missing. Failing leaves the batch unacknowledged,
                # above the checkpoint's watermark, so resuming the replay sends it again.
                raise ReplayError(
                    f"dead letters not written to s3://{settings.bucket}/{key} "
                    f"({type(exc).__name__}: {exc}); the replay stops, resume it once the "
                    "bucket accepts them (PipelinePolicy allows errors/replay-failed/*)"
                ) from None
            path = settings.dead_letter_dir / key
            logger.warning(
                "dead letter to s3://%s/%s failed (%s); writing %s",
                settings.bucket,
                key,
                type(exc).__name__,
                path,
            )
            write_local_dead_letters(path, body)
            return str(path)
