"""Which evaluations of a condition become alerts: one per key, repeats held back for a
cool-down, and one "resolved" when the condition clears.

The state is small and JSON-serialisable, so a sensor keeps it in its cursor (Dagster's
storage): nothing on a local disk, which the AWS path does not have between runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Keys still failing after this long without an evaluation are forgotten (cursor size).
FORGET_AFTER_S = 7 * 24 * 3600


@dataclass
class OpenKeys:
    """Keys with an open alert -> when their last alert was published (epoch seconds)."""

    alerted_at: dict[str, float] = field(default_factory=dict)

    def failing(self, key: str, now: float, cooldown_s: float) -> bool:
        """``key`` is failing at ``now``: True if an alert should be published."""
        last = self.alerted_at.get(key)
        if last is not None and now - last < cooldown_s:
            return False
        self.alerted_at[key] = now
        return True

    def passing(self, key: str) -> bool:
        """``key`` passes: True if it had an open alert (publish "resolved")."""
        return self.alerted_at.pop(key, None) is not None

    def forget_before(self, oldest: float) -> None:
        for key in [k for k, t in self.alerted_at.items() if t < oldest]:
            del self.alerted_at[key]
