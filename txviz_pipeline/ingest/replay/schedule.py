"""Time compression: a batch leaves when its first event time comes round at ``speed`` event
seconds per wall second."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

# Sleep in slices this long, so a caller's sleep (the replay handling acknowledgements) runs often.
_SLICE_S = 0.5


class Schedule:
    """Time-compressed pacing: a batch is due when its first event time comes round at
    ``speed`` event seconds per wall second, counted from the first batch of the run."""

    def __init__(
        self,
        speed: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.speed = speed or None
        self.clock = clock
        self.sleep = sleep
        self._origin: tuple[float, datetime] | None = None
        self._last_due: float | None = None

    def due(self, event_time: datetime | None) -> float | None:
        """The clock time at which a batch with this first event time may leave."""
        if self.speed is None:
            return None
        if event_time is None:
            return self._last_due
        if self._origin is None:
            self._origin = (self.clock(), event_time)
        wall0, event0 = self._origin
        self._last_due = wall0 + (event_time - event0).total_seconds() / self.speed
        return self._last_due

    def wait(self, event_time: datetime | None) -> float:
        """Sleep (in slices, so the caller's sleep can do other work) until the batch is due."""
        due = self.due(event_time)
        waited = 0.0
        if due is None:
            return waited
        while (remaining := due - self.clock()) > 0:
            step = min(remaining, _SLICE_S)
            self.sleep(step)
            waited += step
        return waited
