"""The shared rate limiter, driven by an injected clock (no wall-clock assertions)."""

from __future__ import annotations

import multiprocessing as mp
import time

import pytest

from txviz_pipeline.ingest.replay.ratelimit import Limits, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **limits) -> RateLimiter:
    return RateLimiter(Limits(**limits), clock=clock, sleep=clock.sleep)


def test_records_bucket_allows_a_burst_then_paces():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=1000, bytes_per_s=None, requests_per_s=None, burst_s=1.0)
    assert rl.acquire(500, 0) == 0
    assert rl.acquire(500, 0) == 0  # one second's worth of burst
    assert rl.acquire(500, 0) == pytest.approx(0.5)
    assert rl.acquire(500, 0) == pytest.approx(0.5)
    assert clock.now == pytest.approx(1001.0)


def test_bytes_bind_first_for_small_records_at_the_default_quota():
    clock = FakeClock()
    rl = limiter(clock)  # 500k rec/s, 5 MiB/s, 2,000 req/s
    batch_bytes = 500 * 450
    calls = 0
    starts = []
    while clock.now < 1100.0:
        rl.acquire(500, batch_bytes)
        starts.append(clock.now)
        calls += 1
    # Any one-second window AWS might meter sees at most 1.25x the quota (0.25 s of burst).
    busiest = max(
        sum(1 for t in starts if w <= t < w + 1.0) for w in starts[:: max(1, len(starts) // 200)]
    )
    assert busiest * batch_bytes <= 1.25 * 5 * 1024 * 1024 + batch_bytes
    sent_bytes = calls * batch_bytes
    elapsed = clock.now - 1000.0
    # At most the rate over the elapsed time plus one second of burst (and one batch).
    assert sent_bytes <= 5 * 1024 * 1024 * (elapsed + 1.0) + batch_bytes
    assert sent_bytes >= 5 * 1024 * 1024 * elapsed
    # ~11.6k rec/s over 100 s: the byte quota binds long before 500k rec/s.
    assert 11_500 < calls * 500 / elapsed < 11_800


def test_requests_bucket():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=None, bytes_per_s=None, requests_per_s=10, burst_s=0.0)
    delays = [rl.reserve(1, 1) for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_call_larger_than_the_burst_is_admitted_and_delays_the_next():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=100, bytes_per_s=None, requests_per_s=None, burst_s=1.0)
    assert rl.acquire(500, 0) == 0  # 5 s of quota in one call
    # The bucket is 5 s in debt; a small call waits until it fits in the 1 s bucket again.
    assert rl.acquire(1, 0) == pytest.approx(4.01)


def test_all_three_buckets_are_booked_together():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=1000, bytes_per_s=1000, requests_per_s=1000, burst_s=0.0)
    assert rl.reserve(10, 500) == 0  # bytes push tat to +0.5 s
    assert rl.reserve(1, 1) == pytest.approx(0.5)


def test_unlimited_never_waits():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=None, bytes_per_s=0, requests_per_s=None)
    assert all(rl.acquire(10**6, 10**9) == 0 for _ in range(100))
    assert clock.sleeps == []


def test_idle_time_does_not_bank_more_than_the_burst():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=100, bytes_per_s=None, requests_per_s=None, burst_s=1.0)
    rl.acquire(100, 0)
    clock.now += 60  # a minute idle
    assert rl.reserve(100, 0) == 0  # a full bucket (one second's worth), no more
    assert rl.reserve(100, 0) == pytest.approx(1.0)


def _reserve_many(rl: RateLimiter, n: int) -> None:
    for _ in range(n):
        rl.reserve(1, 0)


def test_processes_share_one_budget():
    """Two processes booking 5 requests each at 1 request/s book 10 s, not 5."""
    ctx = mp.get_context("spawn")
    rl = RateLimiter.shared(
        Limits(records_per_s=None, bytes_per_s=None, requests_per_s=1, burst_s=0.0), ctx
    )
    before = time.monotonic()
    procs = [ctx.Process(target=_reserve_many, args=(rl, 5)) for _ in range(2)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
    after = time.monotonic()
    booked_until = rl._state[2]
    assert before + 10 <= booked_until <= after + 10
