"""A rate limiter on records/s, bytes/s and requests/s, shareable across processes.

Firehose's Direct PUT quota is per stream and counts three things at once (records, bytes and
calls per second); a replay has to stay under all three, and the byte quota binds first for
~450-byte records. One limiter holds the three buckets and a caller reserves a whole
PutRecordBatch call against all of them together.

Each bucket is a token bucket written in its "virtual scheduling" form (GCRA): instead of a
token count it keeps the theoretical time at which the bucket would be full again (``tat``).
A call of cost ``c`` on a bucket of rate ``r`` and burst ``b`` seconds may start at
``max(now, tat + c / r - b)`` and moves ``tat`` to ``max(tat, start) + c / r``. This is exactly
a token bucket of capacity ``r * b``, with two properties a plain token counter lacks: a call
larger than the capacity (a 4 MiB batch under a 1 MiB/s test quota) is still admitted once the
bucket is full, it only pushes the next call further out; and the state is three floats, so
processes share it
through one small ``multiprocessing`` array under a lock (``RateLimiter.shared``).
``time.monotonic`` is system-wide on Linux, so the floats mean the same in every process.

The clock and sleep functions are injectable so tests drive the limiter without wall-clock
waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from typing import Any

# One us-east-1 / us-west-2 / eu-west-1 delivery stream's Direct PUT quota.
DEFAULT_RECORDS_PER_S = 500_000
DEFAULT_BYTES_PER_S = 5 * 1024 * 1024
DEFAULT_REQUESTS_PER_S = 2_000
# A quarter second of burst absorbs scheduling jitter between workers while any one-second
# window AWS meters sees at most 1.25x the rate (a full second of burst would allow 2x).
DEFAULT_BURST_S = 0.25


@dataclass(frozen=True)
class Limits:
    """Rates per second; ``None`` or 0 means that dimension is not limited (ranges are checked
    in ``options.ReplayOptions``)."""

    records_per_s: float | None = DEFAULT_RECORDS_PER_S
    bytes_per_s: float | None = DEFAULT_BYTES_PER_S
    requests_per_s: float | None = DEFAULT_REQUESTS_PER_S
    burst_s: float = DEFAULT_BURST_S

    @property
    def rates(self) -> tuple[float, float, float]:
        """Rates as floats, 0.0 meaning unlimited."""
        return (
            float(self.records_per_s or 0.0),
            float(self.bytes_per_s or 0.0),
            float(self.requests_per_s or 0.0),
        )


class RateLimiter:
    """Three GCRA token buckets (records, bytes, requests) reserved together."""

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        state: MutableSequence[float] | None = None,
        lock: Any = None,
    ) -> None:
        self.limits = limits or Limits()
        self._rates = self.limits.rates
        self._burst = self.limits.burst_s
        self._clock = clock
        self._sleep = sleep
        # tat per bucket; starting at 0 means every bucket begins full.
        self._state: MutableSequence[float] = state if state is not None else [0.0, 0.0, 0.0]
        self._lock = lock if lock is not None else threading.Lock()

    @classmethod
    def shared(cls, limits: Limits, mp_context: Any) -> RateLimiter:
        """A limiter whose state lives in shared memory; pass it to worker processes."""
        array = mp_context.Array("d", 3, lock=True)
        return cls(limits, state=array, lock=array.get_lock())

    def reserve(self, records: int, nbytes: int, requests: int = 1) -> float:
        """Book one call's cost and return how many seconds from now it may start."""
        costs = (records, nbytes, requests)
        with self._lock:
            now = self._clock()
            start = now
            for rate, tat, cost in zip(self._rates, self._state, costs, strict=True):
                if rate:
                    # A call up to the bucket's size starts once it fits; a bigger one waits
                    # for a full bucket and leaves it in debt.
                    start = max(start, tat + min(cost / rate, self._burst) - self._burst)
            for i, (rate, cost) in enumerate(zip(self._rates, costs, strict=True)):
                if rate:
                    self._state[i] = max(self._state[i], start) + cost / rate
        return start - now

    def acquire(self, records: int, nbytes: int, requests: int = 1) -> float:
        """Block until the call may start; returns the seconds waited."""
        delay = self.reserve(records, nbytes, requests)
        if delay > 0:
            self._sleep(delay)
        return delay
