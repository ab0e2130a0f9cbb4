"""The exceptions a replay raises to its caller."""

from __future__ import annotations

from typing import Any


class ReplayError(RuntimeError):
    """A replay that cannot go on: bad dataset, non-retryable AWS error, a worker died."""


class ReplayStopped(ReplayError):
    """The replay stopped before its end because Firehose could not be reached; every row not
    accepted is unsent and below no watermark, so a resume with ``replay_id`` sends it."""

    def __init__(
        self,
        reason: str,
        *,
        replay_id: str,
        rows_done: int,
        rows_total: int,
        dead_lettered: int,
        events: list[Any],
    ) -> None:
        self.reason = reason
        self.replay_id = replay_id
        self.rows_done = rows_done
        self.rows_total = rows_total
        self.dead_lettered = dead_lettered
        self.events = events
        super().__init__(self.describe(f"resume with replay id {replay_id}"))

    def describe(self, resume: str) -> str:
        """One line: why, how far, and ``resume`` (how to go on, in the caller's terms)."""
        dead = f" ({self.dead_lettered:,} of them dead letters)" if self.dead_lettered else ""
        return (
            f"{self.reason}; stopped. {self.rows_done:,} of {self.rows_total:,} rows are "
            f"sent{dead}; nothing was lost: {resume}"
        )
