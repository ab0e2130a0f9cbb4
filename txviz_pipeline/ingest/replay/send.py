"""Sending one batch: PutRecordBatch with per-record retries, error classification and dead
letters.

A worker resends exactly the entries a call reports as failed (``FailedPutCount`` and
per-index ``ErrorCode``), and retries a whole call that raised a throttling or 5xx error, with
exponential backoff and full jitter, for at most ``max_attempts`` attempts. Errors that no retry
can fix (an unknown stream, an invalid request) stop the replay at once with a clear message. A
call that never reached Firehose (refused, closed, timed out) is no attempt: it is retried until
the endpoint has been unreachable for ``endpoint.UNREACHABLE_AFTER_S``, then the replay stops
and those rows stay unsent for a resume. Records Firehose answered with an error on every
attempt are returned as failures, for the worker to write as dead letters (``deadletters``).
"""

from __future__ import annotations

import logging
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
from txviz_pipeline.ingest.replay.ratelimit import RateLimiter
from txviz_pipeline.redact import scrub
from txviz_pipeline.schema import REPLAY_ID_FIELD
from txviz_pipeline.settings import Settings

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
        # AWS may quote a rejected value: digit runs masked, the length capped.
        message = scrub(str(err.get("Message") or exc))[:300]
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
        max_attempts=0,  # botocore's retries, the first call not counted: none
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )


def replay_s3_client(settings: Settings) -> Any:
    """S3 for dead letters, checkpoints and manifests: the same short timeouts, one retry."""
    return aws.client(
        "s3",
        settings,
        max_attempts=1,
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
    )
