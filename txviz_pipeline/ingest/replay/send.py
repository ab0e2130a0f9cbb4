"""Sending one batch: PutRecordBatch with per-record retries, error classification and dead
letters.

A worker resends exactly the entries a call reports as failed (``FailedPutCount`` and
per-index ``ErrorCode``), and retries a whole call that raised a throttling or 5xx error, with
exponential backoff and full jitter, for at most ``max_attempts`` attempts. Errors that no retry
can fix (an unknown stream, an invalid request) stop the replay at once with a clear message. A
call that never reached Firehose (refused, closed, timed out) is no attempt: it is retried until
the endpoint has been unreachable for ``endpoint.UNREACHABLE_AFTER_S``, then the replay stops
and those rows stay unsent for a resume. Records Firehose answered with an error on every
attempt are written, redacted (``dead_letter_record``), to
``s3://<bucket>/errors/replay-failed/<replay_id>/rows-<first>-<end>.ndjson`` (one object per
batch that had failures; a private local copy under ``settings.dead_letter_dir`` if S3 itself
fails) *before* the worker reports the batch done, so an acknowledged batch is never lost.
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

from botocore.exceptions import ClientError

from txviz_pipeline import aws
from txviz_pipeline.ingest.replay.endpoint import (
    CONNECT_TIMEOUT_S,
    NETWORK_RETRY_CAP_S,
    READ_TIMEOUT_S,
    EndpointUnreachable,
    Reachability,
    endpoint_of,
    is_network_error,
    network_cause,
)
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import RECORD_TOO_LARGE, row_id_of
from txviz_pipeline.ingest.replay.ratelimit import RateLimiter
from txviz_pipeline.private_files import private_dir, private_opener
from txviz_pipeline.redact import redacted, scrub
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
    if is_network_error(exc):
        return type(exc).__name__, str(exc), True
    return type(exc).__name__, scrub(str(exc))[:300], False


def send_batch(
    client: Any,
    stream: str,
    records: list[bytes],
    *,
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so sharing the default is safe
    limiter: RateLimiter | None = None,
    reach: Reachability | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
) -> SendOutcome:
    """Put ``records`` with PutRecordBatch, resending exactly the failed entries.

    Network errors are retried until ``reach`` (shared by the replay's workers) says the
    endpoint has been unreachable too long; then ``EndpointUnreachable`` leaves every record
    of the batch unsent (never a dead letter), for a resume to send.
    """
    rng = rng or _RNG
    reach = reach or Reachability()
    outcome = SendOutcome()
    pending = list(range(len(records)))
    entries = [{"Data": r} for r in records]
    total_bytes = sum(map(len, records))
    last_error: dict[int, tuple[str, str]] = {}
    network_failures = 0
    while pending:
        call = entries if len(pending) == len(entries) else [entries[i] for i in pending]
        if limiter is not None:
            nbytes = total_bytes if call is entries else sum(len(records[i]) for i in pending)
            limiter.acquire(len(call), nbytes, 1)
        started = clock()
        try:
            response = client.put_record_batch(DeliveryStreamName=stream, Records=call)
        except Exception as exc:
            if is_network_error(exc):
                down_s = reach.failed(started)
                if down_s >= reach.give_up_s:
                    cause = network_cause(exc)
                    raise EndpointUnreachable(endpoint_of(client), down_s, cause) from None
                network_failures += 1
                outcome.retried += len(pending)
                sleep(min(NETWORK_RETRY_CAP_S, retry.backoff(network_failures, rng)))
                continue
            reach.answered()
            code, message, retryable = classify_error(exc)
            if not retryable:
                raise FatalSendError(
                    f"Firehose PutRecordBatch to delivery stream {stream!r} failed with "
                    f"{code}: {message}" + _hint(code)
                ) from None
            still_failing = pending
            for i in pending:
                last_error[i] = (code, message)
        else:
            reach.answered()
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
        # Only answered calls count as attempts: an unreachable endpoint has its own deadline.
        outcome.attempts += 1
        attempt = outcome.attempts
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
    """The replay's Firehose client: botocore retries off, the replay retries per record; short
    timeouts, so a hung endpoint is seen (see ``endpoint``)."""
    return aws.client(
        "firehose",
        settings,
        max_attempts=1,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def replay_s3_client(settings: Settings) -> Any:
    """S3 for dead letters, checkpoints and manifests: the same short timeouts, one retry."""
    return aws.client(
        "s3",
        settings,
        max_attempts=2,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


# --------------------------------------------------------------------------------------------
# Dead letters


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
                self._s3 = replay_s3_client(settings)
            self._s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
            return None
        except Exception as exc:
            path = settings.dead_letter_dir / key
            logger.warning(
                "dead letter to s3://%s/%s failed (%s); writing %s",
                settings.bucket,
                key,
                type(exc).__name__,
                path,
            )
            private_dir(path.parent)
            tmp = path.with_suffix(".tmp")
            with open(tmp, "wb", opener=private_opener) as f:
                f.write(body)
            os.replace(tmp, path)
            return str(path)
