"""A rate limiter on records/s, bytes/s and requests/s, shareable across processes.

Firehose's Direct PUT quota is per stream and counts three things at once (records, bytes and
calls per second); a replay has to stay under all three, and the byte quota binds first for
~450-byte records. One limiter holds the three quotas and a caller reserves a whole
PutRecordBatch call against all of them together.

Two rules decide when a call may start, and a call starts at the later of the two:

- Pacing, a token bucket per quota in its "virtual scheduling" form (GCRA): instead of a token
  count it keeps the theoretical time at which the bucket would be full again (``tat``). A call
  of cost ``c`` on a bucket of rate ``r`` and burst ``b`` seconds may start at
  ``max(now, tat + c / r - b)`` and moves ``tat`` to ``max(tat, start) + c / r``. It spreads
  calls evenly, lets a worker that fell behind catch up by up to ``b`` seconds, and admits a
  call larger than the bucket (a 4 MiB batch under a 1 MiB/s test quota) once the bucket is
  full, leaving it in debt.
- The window guard: the calls that start within any ``1 + m`` seconds (the window ending at
  the new call's start) cost at most the rate. Alone, the bucket's burst lets a metered second
  see ``(1 + b)`` times the rate; with the guard every second AWS could meter, aligned or
  sliding, holds at most the quota, so the long-run average does too. The margin ``m``
  (``margin_s``) covers the time between a call's start and its arrival, which varies by a few
  milliseconds: a call that reaches the server up to ``m`` late still lands in a second under
  the quota. It costs ``m / (1 + m)`` of the quota (under 5 %). A call that alone exceeds a
  quota (that 4 MiB batch) starts in a window of its own.

Calls start in the order they were booked, so the guard only looks at the last second of
bookings: a ring of (start, records, bytes) with running sums, each booking added once and
dropped once. The ring holds at most ``MAX_WINDOW_CALLS`` calls a second, which only binds
when requests are unlimited. The whole state is floats, so processes share it through one
``multiprocessing`` array under a lock (``RateLimiter.shared``); ``time.monotonic`` is
system-wide on Linux, so the floats mean the same in every process.

The clock and sleep functions are injectable so tests drive the limiter without wall-clock
waits.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, MutableSequence
from dataclasses import dataclass
from typing import Any

# One us-east-1 / us-west-2 / eu-west-1 delivery stream's Direct PUT quota.
DEFAULT_RECORDS_PER_S = 500_000
DEFAULT_BYTES_PER_S = 5 * 1024 * 1024
DEFAULT_REQUESTS_PER_S = 2_000
# A quarter second of burst absorbs scheduling jitter between workers; the window guard keeps
# it inside each metered second.
DEFAULT_BURST_S = 0.25
# The window the quota is metered on, and how late after its start a call may reach the server
# and still count in a second under the quota.
WINDOW_S = 1.0
DEFAULT_MARGIN_S = 0.05
# Calls the guard remembers per window when requests are unlimited (else requests_per_s).
MAX_WINDOW_CALLS = 4096

# Layout of the state array: three tats, the last start, ring head and length, three window
# sums, then (start, records, bytes, requests) per ring slot.
_TAT, _LAST, _HEAD, _LEN, _SUM, _RING = 0, 3, 4, 5, 6, 9
_SLOT = 4


@dataclass(frozen=True)
class Limits:
    """Rates per second; ``None`` or 0 means that dimension is not limited (ranges are checked
    in ``options.ReplayOptions``)."""

    records_per_s: float | None = DEFAULT_RECORDS_PER_S
    bytes_per_s: float | None = DEFAULT_BYTES_PER_S
    requests_per_s: float | None = DEFAULT_REQUESTS_PER_S
    burst_s: float = DEFAULT_BURST_S
    margin_s: float = DEFAULT_MARGIN_S

    @property
    def rates(self) -> tuple[float, float, float]:
        """Rates as floats, 0.0 meaning unlimited."""
        return (
            float(self.records_per_s or 0.0),
            float(self.bytes_per_s or 0.0),
            float(self.requests_per_s or 0.0),
        )

    def share(self, parts: int) -> Limits:
        """This quota split evenly between ``parts`` independent senders."""
        rates = [rate / parts if rate else None for rate in self.rates]
        return Limits(*rates, burst_s=self.burst_s, margin_s=self.margin_s)

    @property
    def window_s(self) -> float:
        """The guard's window: the metered second and the margin."""
        return WINDOW_S + self.margin_s

    @property
    def window_calls(self) -> int:
        """Ring slots: the most calls one window can hold."""
        requests = self.rates[2]
        if not requests:
            return MAX_WINDOW_CALLS
        return min(MAX_WINDOW_CALLS, math.floor(requests * WINDOW_S)) + 1


def _state_size(limits: Limits) -> int:
    return _RING + _SLOT * limits.window_calls


class RateLimiter:
    """Three GCRA token buckets (records, bytes, requests) and a one-second window guard,
    reserved together."""

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
        self._slots = self.limits.window_calls
        self._window = self.limits.window_s
        self._clock = clock
        self._sleep = sleep
        # Every tat at 0 means every bucket begins full; the ring begins empty.
        size = _state_size(self.limits)
        self._state: MutableSequence[float] = state if state is not None else [0.0] * size
        self._state[_LAST] = -math.inf if state is None else self._state[_LAST]
        self._lock = lock if lock is not None else threading.Lock()

    @classmethod
    def shared(cls, limits: Limits, mp_context: Any) -> RateLimiter:
        """A limiter whose state lives in shared memory; pass it to worker processes."""
        array = mp_context.Array("d", _state_size(limits), lock=True)
        array[_LAST] = -math.inf
        return cls(limits, state=array, lock=array.get_lock())

    def book(self, records: int, nbytes: int, requests: int = 1) -> tuple[float, float]:
        """Book one call; returns (now, the clock time at which it may start)."""
        costs = (records, nbytes, requests)
        s = self._state
        with self._lock:
            now = self._clock()
            start = max(now, s[_LAST])
            for i, (rate, cost) in enumerate(zip(self._rates, costs, strict=True)):
                if rate:
                    # A call up to the bucket's size starts once it fits; a bigger one waits
                    # for a full bucket and leaves it in debt.
                    start = max(start, s[_TAT + i] + min(cost / rate, self._burst) - self._burst)
            start = self._guard(start, costs)
            for i, (rate, cost) in enumerate(zip(self._rates, costs, strict=True)):
                if rate:
                    s[_TAT + i] = max(s[_TAT + i], start) + cost / rate
            self._push(start, costs)
            s[_LAST] = start
        return now, start

    def _guard(self, start: float, costs: tuple[int, int, int]) -> float:
        """The earliest time from ``start`` at which the window ending there has room for the
        call: drops the calls that leave the window on the way (no later call can see them,
        since calls start in booking order)."""
        s = self._state
        while s[_LEN]:
            head = _RING + _SLOT * int(s[_HEAD])
            oldest = s[head]
            if oldest <= start - self._window:
                self._pop()
                continue
            full = s[_LEN] >= self._slots
            over = any(
                rate and s[_SUM + i] + cost > rate * WINDOW_S
                for i, (rate, cost) in enumerate(zip(self._rates, costs, strict=True))
            )
            if not (full or over):
                break
            start = oldest + self._window
            self._pop()
        return start

    def _pop(self) -> None:
        s = self._state
        head = _RING + _SLOT * int(s[_HEAD])
        for i in range(3):
            s[_SUM + i] -= s[head + 1 + i]
        s[_HEAD] = (int(s[_HEAD]) + 1) % self._slots
        s[_LEN] -= 1

    def _push(self, start: float, costs: tuple[int, int, int]) -> None:
        s = self._state
        slot = _RING + _SLOT * ((int(s[_HEAD]) + int(s[_LEN])) % self._slots)
        s[slot] = start
        for i, cost in enumerate(costs):
            s[slot + 1 + i] = cost
            s[_SUM + i] += cost
        s[_LEN] += 1

    def reserve(self, records: int, nbytes: int, requests: int = 1) -> float:
        """Book one call's cost and return how many seconds from now it may start."""
        now, start = self.book(records, nbytes, requests)
        return start - now

    def acquire(self, records: int, nbytes: int, requests: int = 1) -> float:
        """Block until the call may start; returns the seconds waited."""
        delay = self.reserve(records, nbytes, requests)
        if delay > 0:
            self._sleep(delay)
        return delay
