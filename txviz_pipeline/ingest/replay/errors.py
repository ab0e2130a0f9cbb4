"""The one exception a replay raises to its caller."""


class ReplayError(RuntimeError):
    """A replay that cannot go on: bad dataset, non-retryable AWS error, a worker died."""
