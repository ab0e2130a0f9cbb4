"""Sending one batch: PutRecordBatch with per-record retries, error classification and dead
letters.

A worker resends exactly the entries a call reports as failed (``FailedPutCount`` and
per-index ``ErrorCode``), and retries a whole call that raised a throttling or 5xx error, with
exponential backoff and full jitter, for at most ``max_attempts`` attempts. Errors that no retry
can fix (an unknown stream, an invalid request) stop the replay at once with a clear message.
Whatever still fails is written with its reason to
``s3://<bucket>/errors/replay-failed/<replay_id>/rows-<first>-<end>.ndjson`` (one object per
batch that had failures; a local copy under ``settings.dead_letter_dir`` if S3 itself fails)
*before* the worker reports the batch done, so an acknowledged batch is never lost.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import row_id_of
from txviz_pipeline.ingest.replay.ratelimit import RateLimiter
from txviz_pipeline.private_files import private_dir, private_opener
from txviz_pipeline.schema import REPLAY_ID_FIELD
from txviz_pipeline.settings import REPLAY_FAILED_PREFIX, Settings

logger = logging.getLogger(__name__)

# Whole-call errors worth retrying; any other ClientError below HTTP 500 fails the replay.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "LimitExceededException",
        "ServiceUnavailableException",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalFailureException",
        "InternalServerError",
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
    }
)
_NETWORK_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
_RNG = random.Random()


def tagged_records(payload: bytes, replay_id: str) -> list[bytes]:
    """A batch's records, each converted record gaining ``"replay_id"``, in one pass.

    Converted records are flat JSON objects, one a line, so a line ending in ``}`` is one
    record whose object can be extended; any other line is sent unchanged and fails in the
    processor as before. Splitting at ``\n`` only keeps a stray ``\r`` inside its record.
    """
    tag = b',"%s":"%s"}\n' % (REPLAY_ID_FIELD.encode(), replay_id.encode())
    lines = payload.split(b"\n")
    lines.pop()  # every batch ends with a newline
    return [line[:-1] + tag if line[-1:] == b"}" else line + b"\n" for line in lines]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a record is sent again."""

    max_attempts: int = 8  # per record, first send included
    backoff_base_s: float = 0.1
    backoff_cap_s: float = 10.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a uniform wait up to the capped exponential bound of ``attempt``."""
        return rng.uniform(0, min(self.backoff_cap_s, self.backoff_base_s * 2 ** (attempt - 1)))


class Failure(NamedTuple):
    """A record that never got through: its index in the batch and its last error."""

    index: int
    code: str
    message: str
    attempts: int


@dataclass
class SendOutcome:
    sent: int = 0
    retried: int = 0  # record re-sends
    attempts: int = 0
    failures: list[Failure] = field(default_factory=list)


class FatalSendError(ReplayError):
    """An error no retry can fix (unknown stream, invalid request, bad credentials)."""


def classify_error(exc: BaseException) -> tuple[str, str, bool]:
    """(error code, message, retryable) for an exception raised by put_record_batch."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code") or "Unknown")
        message = str(err.get("Message") or exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return code, message, code in RETRYABLE_CODES or status >= 500 or status == 429
    if isinstance(exc, _NETWORK_ERRORS):
        return type(exc).__name__, str(exc), True
    return type(exc).__name__, str(exc), False


def send_batch(
    client: Any,
    stream: str,
    records: list[bytes],
    *,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing the default is safe
    limiter: RateLimiter | None = None,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> SendOutcome:
    """Put ``records`` with PutRecordBatch, resending exactly the failed entries."""
    rng = rng or _RNG
    outcome = SendOutcome()
    pending = list(range(len(records)))
    entries = [{"Data": r} for r in records]
    total_bytes = sum(map(len, records))
    last_error: dict[int, tuple[str, str]] = {}
    while pending:
        outcome.attempts += 1
        attempt = outcome.attempts
        call = entries if len(pending) == len(entries) else [entries[i] for i in pending]
        if limiter is not None:
            nbytes = total_bytes if call is entries else sum(len(records[i]) for i in pending)
            limiter.acquire(len(call), nbytes, 1)
        try:
            response = client.put_record_batch(DeliveryStreamName=stream, Records=call)
        except Exception as exc:
            code, message, retryable = classify_error(exc)
            if not retryable:
                raise FatalSendError(
                    f"Firehose PutRecordBatch to delivery stream {stream!r} failed with "
                    f"{code}: {message}" + _hint(code)
                ) from exc
            still_failing = pending
            for i in pending:
                last_error[i] = (code, message)
        else:
            still_failing = []
            if response.get("FailedPutCount", 0):
                answers = response.get("RequestResponses", [])
                if len(answers) != len(pending):
                    raise FatalSendError(
                        f"Firehose answered {len(answers)} entries for {len(pending)} records"
                    )
                for i, answer in zip(pending, answers, strict=True):
                    if answer.get("ErrorCode"):
                        still_failing.append(i)
                        last_error[i] = (answer["ErrorCode"], answer.get("ErrorMessage", ""))
        outcome.sent += len(pending) - len(still_failing)
        pending = still_failing
        if pending and attempt < retry.max_attempts:
            outcome.retried += len(pending)
            sleep(retry.backoff(attempt, rng))
        elif pending:
            outcome.failures = [Failure(i, *last_error[i], attempt) for i in pending]
            break
    return outcome


def _hint(code: str) -> str:
    if code == "ResourceNotFoundException":
        return " (does the delivery stream exist? on the embedded stack, start it first)"
    if code in ("UnrecognizedClientException", "AccessDenied", "AccessDeniedException"):
        return " (check AWS credentials and the firehose:PutRecordBatch permission)"
    return ""


def firehose_client(settings: Settings) -> Any:
    """The replay's Firehose client: botocore retries off, the replay retries per record."""
    return aws.client("firehose", settings, max_attempts=1)


# --------------------------------------------------------------------------------------------
# Dead letters


class DeadLetter(NamedTuple):
    """A record given up on: the line as sent, why, and after how many attempts (0: never)."""

    line: bytes
    code: str
    reason: str
    attempts: int


def dead_letter_lines(letters: list[DeadLetter]) -> bytes:
    """NDJSON dead-letter lines {"row_id", "reason", "error_code", "attempts", "data"}."""
    out = []
    for letter in letters:
        line = letter.line
        data = line[:-1] if line.endswith(b"\n") else line
        out.append(
            json.dumps(
                {
                    "row_id": row_id_of(data),
                    "reason": letter.reason,
                    "error_code": letter.code,
                    "attempts": letter.attempts,
                    "data": data.decode("utf-8", errors="replace"),
                }
            )
        )
    return ("\n".join(out) + "\n").encode()


def dead_letter_key(replay_id: str, first_row: int, end_row: int) -> str:
    # Keyed by row range, so a resumed replay that fails the same rows rewrites the same object.
    return f"{REPLAY_FAILED_PREFIX}{replay_id}/rows-{first_row:010d}-{end_row:010d}.ndjson"


class DeadLetterWriter:
    """Writes one batch's dead letters to S3, or to a local file if S3 itself fails."""

    def __init__(self, settings: Settings, replay_id: str) -> None:
        self.settings = settings
        self.replay_id = replay_id
        self._s3: Any = None

    def write(self, first_row: int, end_row: int, body: bytes) -> str | None:
        """Store a batch's dead letters; returns the local path if S3 failed, else None."""
        settings = self.settings
        key = dead_letter_key(self.replay_id, first_row, end_row)
        try:
            if self._s3 is None:
                self._s3 = aws.client("s3", settings)
            self._s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
            return None
        except Exception as exc:
            path = settings.dead_letter_dir / key
            logger.warning(
                "dead letter to s3://%s/%s failed (%s); writing %s", settings.bucket, key, exc, path
            )
            private_dir(path.parent)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb", opener=private_opener) as f:
                f.write(body)
            os.replace(tmp, path)
            return str(path)
