"""The worker processes that send batches, and the typed messages between them and the replay.

The replay hands batches to N worker processes over a bounded queue (2 per worker), so reading
never runs far ahead of sending and memory stays flat. Each worker owns its boto3 Firehose
client (botocore's own retries off: the worker retries per record) and, before every call,
including retries, reserves the call's records, bytes and one request from one rate limiter
shared by all workers (``ratelimit.py``). Pacing at the point of sending, rather than in the
parent, keeps a backlog in the queue from turning into a burst above the quota, and makes
retries count against it too.

A worker exits by itself as soon as the replay's process dies, even of SIGKILL: it watches a pipe
whose write end only the replay holds. Polling the parent would not do: a worker can be blocked
mid-message on the task pipe (whose write end every worker holds too, so it never sees the end of
file), sleeping for the rate limiter, or waiting on Firehose. Once the workers are gone, the fork
server and the resource tracker exit too: their pipes' write ends were held only by the replay,
the fork server and the workers.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from txviz_pipeline.ingest.replay.deadletters import (
    DeadLetter,
    DeadLetterWriter,
    dead_letter_lines,
    is_permanent,
)
from txviz_pipeline.ingest.replay.endpoint import EndpointUnreachable, Reachability
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.ingest.replay.plan import Batch, Reject
from txviz_pipeline.ingest.replay.ratelimit import RateLimiter
from txviz_pipeline.ingest.replay.send import (
    RetryPolicy,
    firehose_client,
    send_batch,
    tagged_records,
)
from txviz_pipeline.redact import scrub
from txviz_pipeline.settings import Settings


class BatchTask(NamedTuple):
    """Replay -> worker: send dataset rows [first_row, end_row)."""

    seq: int
    first_row: int
    end_row: int
    payload: bytes  # the records to send, back to back
    rejects: list[Reject]  # lines of these rows that go straight to the dead letters

    @classmethod
    def of(cls, batch: Batch) -> BatchTask:
        return cls(batch.seq, batch.first_row, batch.end_row, batch.payload, batch.rejects)


class WorkerReady(NamedTuple):
    """Worker -> replay: the worker has its client and takes tasks."""

    pid: int


class BatchDone(NamedTuple):
    """Worker -> replay: every row of batch ``seq`` was accepted or dead-lettered."""

    seq: int
    sent: int
    retried: int
    failed: int  # dead-lettered
    nbytes: int  # record bytes, tags included
    dead_letter_local: str | None  # written here because S3 failed
    permanent: int = 0  # of the dead-lettered, records Firehose can never accept


class EndpointDown(NamedTuple):
    """Worker -> replay: Firehose has been unreachable too long; batch ``seq`` is unsent."""

    seq: int
    endpoint: str
    down_s: float
    cause: str


class WorkerFailed(NamedTuple):
    """Worker -> replay: the worker cannot go on (``seq`` -1 before any batch)."""

    seq: int
    message: str


Result = BatchDone | EndpointDown | WorkerFailed


@dataclass(frozen=True)
class WorkerSetup:
    """What every worker needs; pickled once per worker."""

    settings: Settings
    replay_id: str
    retry: RetryPolicy
    limiter: RateLimiter
    reach: Reachability
    # Builds the worker's Firehose client; must be picklable (a module-level function).
    client_factory: Callable[[Settings], Any] | None = None


class Worker:
    """Sends the batches given to one worker process."""

    def __init__(self, setup: WorkerSetup) -> None:
        self.setup = setup
        self.client = (setup.client_factory or firehose_client)(setup.settings)
        self.dead_letters = DeadLetterWriter(setup.settings, setup.replay_id)

    def process(self, task: BatchTask) -> BatchDone:
        setup = self.setup
        records = tagged_records(task.payload, setup.replay_id)
        outcome = send_batch(
            self.client,
            setup.settings.delivery_stream,
            records,
            retry=setup.retry,
            limiter=setup.limiter,
            reach=setup.reach,
        )
        dead = [DeadLetter(r.line, r.code, r.reason, 0) for r in task.rejects]
        dead += [
            DeadLetter(
                records[f.index],
                f.code,
                f"not accepted after {f.attempts} attempts; last error {f.code}: {f.message}",
                f.attempts,
            )
            for f in outcome.failures
        ]
        local = None
        if dead:
            body = dead_letter_lines(dead, setup.replay_id)
            local = self.dead_letters.write(task.first_row, task.end_row, body)
        size = sum(map(len, records))
        permanent = sum(is_permanent(d.code) for d in dead)
        return BatchDone(task.seq, outcome.sent, outcome.retried, len(dead), size, local, permanent)


def exit_with_replay(replay_alive: Any) -> None:
    """Exit this process once ``replay_alive`` reads end-of-file, whatever the main thread does."""

    def watch() -> None:
        replay_alive.poll(None)
        os._exit(1)

    threading.Thread(target=watch, name="txviz-replay-watch", daemon=True).start()


def worker_main(setup: WorkerSetup, tasks: Any, results: Any, replay_alive: Any) -> None:
    exit_with_replay(replay_alive)
    try:
        worker = Worker(setup)
    except Exception as exc:
        results.put(WorkerFailed(-1, f"cannot create the Firehose client: {exc!r}"))
        return
    results.put(WorkerReady(os.getpid()))
    while True:
        task = tasks.get()
        if task is None:
            return
        try:
            results.put(worker.process(task))
        except EndpointUnreachable as exc:
            results.put(EndpointDown(task.seq, exc.endpoint, exc.down_s, exc.cause))
            # Wait for the replay to stop this worker: an exit now could be seen before the
            # message and taken for a crash.
            threading.Event().wait()
        except Exception as exc:
            message = str(exc) if isinstance(exc, ReplayError) else f"{type(exc).__name__}: {exc}"
            # A message never carries record data: digit runs masked, length capped.
            results.put(WorkerFailed(task.seq, scrub(message)[:500]))
            return


class Pool:
    """N worker processes behind a bounded task queue."""

    def __init__(self, processes: int, setup: WorkerSetup, ctx: Any) -> None:
        self.tasks = ctx.Queue(maxsize=2 * processes)
        self.results = ctx.Queue()
        # Only this process keeps the write end: its death, however abrupt, ends every worker.
        replay_alive, self.alive = ctx.Pipe(duplex=False)
        self.procs = [
            ctx.Process(
                target=worker_main,
                args=(setup, self.tasks, self.results, replay_alive),
                name=f"txviz-replay-{i}",
                daemon=True,
            )
            for i in range(processes)
        ]
        self.finishing = False
        for p in self.procs:
            p.start()
        replay_alive.close()

    def submit(self, batch: Batch, serve: Callable[[float], None]) -> None:
        """Queue a batch; while the queue is full, ``serve`` handles results and progress."""
        task = BatchTask.of(batch)
        while True:
            try:
                self.tasks.put(task, timeout=0.05)
                return
            except queue.Full:
                serve(0.05)
                self.check_alive()

    def poll(self, timeout: float, on_result: Callable[[Result], None]) -> None:
        """Hand every available result to ``on_result``, waiting up to ``timeout`` for one."""
        try:
            first = self.results.get(timeout=timeout) if timeout > 0 else self.results.get_nowait()
        except queue.Empty:
            return
        on_result(first)
        while True:
            try:
                on_result(self.results.get_nowait())
            except queue.Empty:
                return

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until every worker has its client, so a broken setup fails before sending."""
        ready = 0
        deadline = time.monotonic() + timeout
        while ready < len(self.procs):
            try:
                message = self.results.get(timeout=0.2)
            except queue.Empty:
                self.check_alive()
                if time.monotonic() > deadline:
                    raise ReplayError(f"replay workers not ready after {timeout:.0f} s") from None
                continue
            if isinstance(message, WorkerFailed):
                raise ReplayError(message.message)
            ready += 1

    def check_alive(self) -> None:
        """Raise if a worker died; after ``finish`` a clean exit is expected, not before."""
        for p in self.procs:
            if p.exitcode is not None and (p.exitcode != 0 or not self.finishing):
                raise ReplayError(f"replay worker {p.name} (pid {p.pid}) exited with {p.exitcode}")

    def all_exited(self) -> bool:
        return all(p.exitcode is not None for p in self.procs)

    def finish(self) -> None:
        self.finishing = True
        for _ in self.procs:
            self.tasks.put(None)

    def close(self) -> None:
        for p in self.procs:
            if p.is_alive():
                p.terminate()
        for p in self.procs:
            p.join(timeout=10)
        self.tasks.cancel_join_thread()
        self.results.cancel_join_thread()
        self.tasks.close()
        self.results.close()
        self.alive.close()
