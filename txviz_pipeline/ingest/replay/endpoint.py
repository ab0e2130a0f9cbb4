"""Is the Firehose endpoint there? Short timeouts, and one give-up deadline shared by the workers.

A replay must tell a dead or hung endpoint from a slow one quickly, and must not turn the rows
it could not send into dead letters: they stay unsent, below no watermark, so a resume sends
them. So network errors (refused or closed connections, connect and read timeouts) do not count
against a record's ``max_attempts``; every worker retries them, and all workers share one clock
of how long the endpoint has been unreachable (``Reachability``: the start of the oldest failed
call since the endpoint last answered). Once that reaches ``UNREACHABLE_AFTER_S`` the worker
that sees it raises ``EndpointUnreachable`` and the replay stops, resumable.

Timeouts of the replay's clients (``CONNECT_TIMEOUT_S``, ``READ_TIMEOUT_S``): botocore's read
timeout bounds each wait for the socket, not the whole call. A 4 MiB PutRecordBatch is uploaded
in socket writes that each make progress (the connect timeout bounds one of them: 4 MiB at
10 Mbit/s is 3.4 s in total), then Firehose answers in well under a second (it buffers, it does
not process, before answering). 10 s of silence is therefore a hung endpoint, not a big batch;
a hang is seen after one read timeout and the replay gives up after two, well inside a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)

from txviz_pipeline.ingest.replay.errors import ReplayError

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 10.0
# Unreachable this long (by every worker's account): stop the replay.
UNREACHABLE_AFTER_S = 20.0
# No batch acknowledged this long while batches are out: report the replay as stalled.
STALL_AFTER_S = 10.0
# Longest wait between two tries of an unreachable endpoint, so its return is seen quickly.
NETWORK_RETRY_CAP_S = 2.0

NETWORK_ERRORS = (BotoConnectionError, HTTPClientError)


class EndpointUnreachable(ReplayError):
    """The endpoint did not answer for ``down_s`` seconds; the rows in flight stay unsent."""

    def __init__(self, endpoint: str, down_s: float, cause: str) -> None:
        self.endpoint = endpoint
        self.down_s = down_s
        self.cause = cause
        super().__init__(f"cannot reach Firehose at {endpoint} for {down_s:.0f} s ({cause})")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.endpoint, self.down_s, self.cause))


def is_network_error(exc: BaseException) -> bool:
    return isinstance(exc, NETWORK_ERRORS)


def network_cause(exc: BaseException) -> str:
    """A few words on why the endpoint did not answer (never the request's data)."""
    if isinstance(exc, ReadTimeoutError):
        return f"no answer within {READ_TIMEOUT_S:.0f} s"
    if isinstance(exc, ConnectTimeoutError):
        return f"no connection within {CONNECT_TIMEOUT_S:.0f} s"
    if isinstance(exc, EndpointConnectionError):
        inner = str(getattr(exc, "kwargs", {}).get("error", ""))
        return "connection refused" if "refused" in inner.lower() else "cannot connect"
    return "connection closed"


def endpoint_of(client: Any, default: str = "its endpoint") -> str:
    """The URL a boto3 client talks to (a test double may have none)."""
    return str(getattr(getattr(client, "meta", None), "endpoint_url", None) or default)


class Reachability:
    """Since when the endpoint has not answered, shared by every worker of a replay.

    ``state[0]`` is the start time (``time.monotonic``, system-wide on Linux) of the oldest
    call that failed since the endpoint last answered, 0.0 while it answers; ``state[1]`` is
    when it last answered (a call begun before that counts from then).
    """

    def __init__(
        self,
        give_up_s: float = UNREACHABLE_AFTER_S,
        *,
        clock: Callable[[], float] = time.monotonic,
        state: Any = None,
        lock: Any = None,
    ) -> None:
        import threading

        self.give_up_s = give_up_s
        self._clock = clock
        self._state = state if state is not None else [0.0, 0.0]
        self._lock = lock if lock is not None else threading.Lock()

    @classmethod
    def shared(cls, give_up_s: float, mp_context: Any) -> Reachability:
        """One whose state lives in shared memory; pass it to worker processes."""
        return cls(give_up_s, state=mp_context.RawArray("d", 2), lock=mp_context.Lock())

    def answered(self) -> None:
        """The endpoint answered (any HTTP response, an error status included)."""
        if self._state[0]:  # one unlocked read of a double on the hot path
            with self._lock:
                self._state[0] = 0.0
                self._state[1] = self._clock()

    def failed(self, call_started: float) -> float:
        """A call begun at ``call_started`` failed on the network; seconds unreachable so far."""
        with self._lock:
            since = max(call_started, self._state[1])
            if not self._state[0] or since < self._state[0]:
                self._state[0] = since
            return self._clock() - self._state[0]
