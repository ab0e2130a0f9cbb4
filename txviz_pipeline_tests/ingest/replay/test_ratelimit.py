"""The shared rate limiter, driven by an injected clock (no wall-clock assertions)."""

from __future__ import annotations

import bisect
import contextlib
import multiprocessing as mp
import random
import time
from collections.abc import Iterator

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


def busiest_window(starts: list[float], costs: list[float]) -> float:
    """The largest total cost of the calls in any one-second window [w, w + 1): windows
    opening at each call (the worst case of sliding) and on every whole second from the first."""
    pairs = sorted(zip(starts, costs, strict=True))
    times = [t for t, _ in pairs]
    prefix = [0.0]
    for _, cost in pairs:
        prefix.append(prefix[-1] + cost)
    aligned = [times[0] + k for k in range(int(times[-1] - times[0]) + 2)]
    return max(
        prefix[bisect.bisect_left(times, w + 1.0)] - prefix[bisect.bisect_left(times, w)]
        for w in times + aligned
    )


def test_records_bucket_allows_a_burst_then_paces():
    clock = FakeClock()
    rl = limiter(
        clock, records_per_s=1000, bytes_per_s=None, requests_per_s=None, burst_s=0.5, margin_s=0
    )
    assert rl.acquire(250, 0) == 0
    assert rl.acquire(250, 0) == 0  # half a second's worth of burst
    assert rl.acquire(250, 0) == pytest.approx(0.25)
    assert rl.acquire(250, 0) == pytest.approx(0.25)
    assert clock.now == pytest.approx(1000.5)


def test_the_burst_stays_inside_the_metered_second():
    """A full bucket's burst plus a second of pacing would be 1.5 s of quota in one second:
    the window guard holds the next call until the burst leaves the window."""
    clock = FakeClock()
    rl = limiter(
        clock, records_per_s=1000, bytes_per_s=None, requests_per_s=None, burst_s=0.5, margin_s=0
    )
    for _ in range(4):
        rl.acquire(250, 0)  # 1,000 records by 1000.5
    assert rl.acquire(250, 0) == pytest.approx(0.5)  # the window from 1000.0 is full
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
    # Every one-second window AWS might meter holds at most the quota.
    assert busiest_window(starts, [batch_bytes] * calls) <= 5 * 1024 * 1024
    sent_bytes = calls * batch_bytes
    elapsed = clock.now - 1000.0
    assert sent_bytes <= 5 * 1024 * 1024 * elapsed + batch_bytes
    # The margin costs under 5 % of the quota, and whole calls fill a window to 23/23.3.
    assert sent_bytes >= 0.93 * 5 * 1024 * 1024 * elapsed
    # ~11k rec/s over 100 s: the byte quota binds long before 500k rec/s.
    assert 10_800 < calls * 500 / elapsed < 11_700


def test_requests_bucket():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=None, bytes_per_s=None, requests_per_s=10, burst_s=0.0)
    delays = [rl.reserve(1, 1) for _ in range(5)]
    assert delays == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_a_call_larger_than_the_burst_is_admitted_and_delays_the_next():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=100, bytes_per_s=None, requests_per_s=None, burst_s=1.0)
    assert rl.acquire(500, 0) == 0  # 5 s of quota in one call
    # The bucket is 5 s in debt; a small call waits until it fits in the 1 s bucket again
    # (by then the big call has long left the window).
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
    rl = limiter(
        clock, records_per_s=100, bytes_per_s=None, requests_per_s=None, burst_s=0.5, margin_s=0
    )
    rl.acquire(100, 0)
    clock.now += 60  # a minute idle
    assert rl.reserve(50, 0) == 0  # a full bucket (half a second's worth), no more
    assert rl.reserve(50, 0) == pytest.approx(0.5)


@contextlib.contextmanager
def running(procs: list) -> Iterator[list]:
    """Start ``procs``; on the way out wait for them (they must succeed) or kill them."""
    for p in procs:
        p.start()
    try:
        yield procs
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()


def _reserve_many(rl: RateLimiter, n: int) -> None:
    for _ in range(n):
        rl.reserve(1, 0)


def test_processes_share_one_budget():
    """Two processes booking 5 requests each at 1 request/s book 10 s, not 5."""
    ctx = mp.get_context("spawn")
    rl = RateLimiter.shared(
        Limits(records_per_s=None, bytes_per_s=None, requests_per_s=1, burst_s=0.0, margin_s=0),
        ctx,
    )
    before = time.monotonic()
    with running([ctx.Process(target=_reserve_many, args=(rl, 5)) for _ in range(2)]) as procs:
        for p in procs:
            p.join(timeout=60)
            assert p.exitcode == 0
    after = time.monotonic()
    booked_until = rl._state[2]
    assert before + 10 <= booked_until <= after + 10


@pytest.mark.parametrize("burst_s", [0.0, 0.25, 1.0])
@pytest.mark.parametrize("margin_s", [0.0, 0.05])
def test_every_second_and_the_average_stay_within_the_quota(burst_s, margin_s):
    """Workers that fall behind and catch up, calls of every size, idle gaps: no one-second
    window, aligned or sliding, and not the whole run, sees more than the quota."""
    clock = FakeClock()
    quota = {"records_per_s": 2_000, "bytes_per_s": 100_000, "requests_per_s": 40}
    rl = limiter(clock, **quota, burst_s=burst_s, margin_s=margin_s)
    rng = random.Random(11)
    starts, calls = [], []
    while clock.now < 1060.0:
        records = rng.randint(1, 500)
        nbytes = records * rng.randint(20, 200)  # every call within the quota on its own
        now, start = rl.book(records, nbytes)
        assert start >= now
        starts.append(start)
        calls.append((records, nbytes))
        # The caller (one of several workers) sometimes comes back late: it lost the CPU.
        clock.now = start + (rng.expovariate(4.0) if rng.random() < 0.2 else 0.0)
    for i, name in enumerate(("records_per_s", "bytes_per_s")):
        assert busiest_window(starts, [c[i] for c in calls]) <= quota[name]
    assert busiest_window(starts, [1] * len(starts)) <= quota["requests_per_s"]
    # The long run: whole seconds from the first call to just after the last.
    seconds = int(starts[-1] - starts[0]) + 1
    assert sum(c[1] for c in calls) <= quota["bytes_per_s"] * seconds


def test_a_call_over_the_quota_gets_a_window_of_its_own():
    clock = FakeClock()
    rl = limiter(
        clock, records_per_s=None, bytes_per_s=1000, requests_per_s=None, burst_s=0.0, margin_s=0
    )
    assert rl.reserve(1, 100) == 0
    _, big = rl.book(1, 4000)  # four seconds' worth: starts once the window is empty
    assert big == pytest.approx(1001.0)
    _, after = rl.book(1, 100)  # the big call's debt, not the window, holds the next one
    assert after == pytest.approx(1001.0 + 4.0)


def test_unlimited_requests_still_remember_a_window_of_calls():
    clock = FakeClock()
    rl = limiter(clock, records_per_s=None, bytes_per_s=1_000_000, requests_per_s=None)
    starts = [rl.book(1, 1)[1] for _ in range(5000)]
    assert busiest_window(starts, [1] * len(starts)) <= 4096


def test_a_share_splits_every_rate():
    share = Limits(records_per_s=1000, bytes_per_s=None, requests_per_s=40).share(4)
    assert share.rates == (250.0, 0.0, 10.0)
    assert share.burst_s == Limits().burst_s


def _book_many(rl: RateLimiter, n: int, out) -> None:
    for _ in range(n):
        _, start = rl.book(10, 1_000)
        out.put((start, 10, 1_000))


def test_processes_sharing_a_limiter_keep_every_second_within_the_quota():
    """Three processes booking at once on a shared limiter with a full burst: the windows
    they fill together hold at most the quota."""
    ctx = mp.get_context("spawn")
    quota = Limits(records_per_s=2_000, bytes_per_s=150_000, requests_per_s=None, burst_s=0.25)
    rl = RateLimiter.shared(quota, ctx)
    out = ctx.Queue()
    with running([ctx.Process(target=_book_many, args=(rl, 100, out)) for _ in range(3)]):
        booked = [out.get(timeout=60) for _ in range(300)]
    starts = [b[0] for b in booked]
    assert busiest_window(starts, [b[1] for b in booked]) <= 2_000
    assert busiest_window(starts, [b[2] for b in booked]) <= 150_000
    # 300 calls of 1,000 bytes at 150,000 bytes/s: booked over at least a second.
    assert max(starts) - min(starts) >= 1.0
