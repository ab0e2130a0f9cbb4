"""Benchmark send → visible: from a record's PutRecordBatch call to the dashboard's query
returning it, on the embedded stack with the whole pipeline running.

    .venv/bin/python bench/bench_latency.py                  # 60 s of bursts, speed layer + SPICE
    .venv/bin/python bench/bench_latency.py --seconds 120 --burst 50 --no-baseline

It starts the embedded stack and ``dagster dev`` (sensor → landing → compaction → SPICE runs) in a
fresh home on free ports, sends Sparkov records converted to NDJSON, with unique trans_num and
row_id, in bursts (one PutRecordBatch each) for ``--seconds``, and polls:

- the dashboard's own session (``serving.snapshot.dashboard_session``: SPICE ∪ speed layer,
  every panel run as the dashboard runs them, then the sent ids looked up in the same view);
- unless ``--no-baseline``, the same session without the speed layer (compaction + SPICE only).

For each record, latency = end of the first poll whose view holds it − start of its Put call.
The dashboard page itself re-runs its session every ``REFRESH_SECONDS``, which adds up to that
much on screen. Everything started is stopped on exit, Ctrl-C included. The last line reads
``p50 X s p95 Y s`` (the speed layer).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from txviz_pipeline import aws, orchestrator  # noqa: E402
from txviz_pipeline.generator.sparkov import generate_csv  # noqa: E402
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson  # noqa: E402
from txviz_pipeline.processes import signals_held, stop_group, stop_on_signals  # noqa: E402
from txviz_pipeline.serving.queries import PANELS, run_panel  # noqa: E402
from txviz_pipeline.serving.snapshot import dashboard_session  # noqa: E402
from txviz_pipeline.serving.speed import SpeedLayer  # noqa: E402
from txviz_pipeline.settings import Settings  # noqa: E402
from txviz_pipeline.stack import control  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port  # noqa: E402

QUANTILES = (0.5, 0.9, 0.95, 0.99)


def bench_lines(work: Path, rows: int, token: str) -> list[tuple[str, bytes]]:
    """(trans_num, NDJSON line) of ``rows`` converted Sparkov records, ids unique to this run."""
    csv = work / "bench.csv"
    generate_csv(csv, rows, seed=random.randrange(2**31))
    convert_csv_to_ndjson(csv, work / "ndjson", rows=rows)
    lines = [
        line
        for part in sorted((work / "ndjson").glob("*.ndjson"))
        for line in part.read_bytes().splitlines()
        if line.strip()
    ]
    out = []
    for i, line in enumerate(lines[:rows]):
        record = orjson.loads(line)
        record["trans_num"] = f"{token}{i:024x}"
        record["row_id"] = 10**12 + i
        out.append((record["trans_num"], orjson.dumps(record) + b"\n"))
    return out


class Sender(threading.Thread):
    """Sends one burst per ``interval`` seconds; records each trans_num's Put start time."""

    def __init__(self, settings: Settings, lines, burst: int, interval: float):
        super().__init__(daemon=True)
        self.firehose = aws.client("firehose", settings)
        self.stream = settings.delivery_stream
        self.lines, self.burst, self.interval = lines, burst, interval
        self.put_at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for start in range(0, len(self.lines), self.burst):
                if self.stop.is_set():
                    return
                due = time.monotonic() + self.interval
                batch = self.lines[start : start + self.burst]
                self._put(batch)
                self.stop.wait(max(0.0, due - time.monotonic()))
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def _put(self, batch) -> None:
        began = time.monotonic()
        with self.lock:
            for trans_num, _ in batch:
                self.put_at[trans_num] = began
        pending = batch
        while pending:
            response = self.firehose.put_record_batch(
                DeliveryStreamName=self.stream, Records=[{"Data": line} for _, line in pending]
            )
            if not response["FailedPutCount"]:
                return
            pending = [
                item
                for item, result in zip(pending, response["RequestResponses"], strict=True)
                if result.get("ErrorCode")
            ]
            time.sleep(0.1)


def visible_ids(spice_path: Path, speed: SpeedLayer | None, token: str) -> set[str]:
    """Run the dashboard's session and panels, then the ids of this run that its view holds."""
    with dashboard_session(spice_path, speed) as session:
        if not session.has_data:
            return set()
        for name in PANELS:
            run_panel(session.con, name)
        rows = session.con.execute(
            "SELECT trans_num FROM transactions WHERE SUBSTR(trans_num, 1, 8) = ?", [token]
        ).fetchall()
    return {r[0] for r in rows}


class Watch:
    """First-seen latency per record for one way of reading (speed layer or SPICE only)."""

    def __init__(self, name: str, speed: SpeedLayer | None):
        self.name, self.speed = name, speed
        self.latency: dict[str, float] = {}

    def poll(self, settings: Settings, sender: Sender, token: str) -> None:
        seen = visible_ids(settings.spice_path, self.speed, token)
        done = time.monotonic()
        with sender.lock:
            for trans_num in seen - self.latency.keys():
                self.latency[trans_num] = done - sender.put_at[trans_num]


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def report(watch: Watch, sent: int) -> dict[str, float]:
    values = list(watch.latency.values())
    print(f"\n{watch.name}: {len(values):,} of {sent:,} records seen")
    if not values:
        return {}
    figures = {f"p{round(q * 100)}": quantile(values, q) for q in QUANTILES}
    print(
        f"  min {min(values):.2f} s  mean {statistics.fmean(values):.2f} s  "
        + "  ".join(f"{k} {v:.2f} s" for k, v in figures.items())
        + f"  max {max(values):.2f} s"
    )
    edges = [0.5, 1, 2, 3, 5, 10, 30, 60, 120, float("inf")]
    low = 0.0
    for high in edges:
        count = sum(low <= v < high for v in values)
        if count:
            label = f"{low:g}–{high:g} s" if high != float("inf") else f"≥ {low:g} s"
            print(f"  {label:>10}: {count:6,} {'#' * max(1, round(40 * count / len(values)))}")
        low = high
    return figures


def measure(settings: Settings, args, token: str, lines) -> tuple[Watch, Watch | None]:
    s3 = aws.client("s3", settings, max_attempts=2)
    fast = Watch("speed layer + SPICE (the dashboard)", SpeedLayer(s3, settings.bucket))
    slow = None if args.no_baseline else Watch("SPICE only (compaction + SPICE runs)", None)
    watches = [w for w in (fast, slow) if w is not None]
    sender = Sender(settings, lines, args.burst, args.interval)
    sender.start()
    sender_ended = time.monotonic()
    try:
        while sender.is_alive() or any(len(w.latency) < len(sender.put_at) for w in watches):
            if not sender.is_alive() and time.monotonic() > sender_ended + args.drain:
                break
            if sender.is_alive():
                sender_ended = time.monotonic()
            for watch in watches:
                watch.poll(settings, sender, token)
            time.sleep(args.poll)
    finally:
        sender.stop.set()
        sender.join(timeout=30)
    if sender.error is not None:
        raise sender.error
    return fast, slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send")
    parser.add_argument("--burst", type=int, default=20, help="records per PutRecordBatch")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between bursts")
    parser.add_argument("--poll", type=float, default=0.2, help="pause between polls (s)")
    parser.add_argument("--drain", type=float, default=240.0, help="wait after sending (s)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the SPICE-only reading")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="txviz-bench-latency-"))
    home = work / "home"
    token = f"{random.getrandbits(32):08x}"
    lines = bench_lines(work, int(args.seconds / args.interval) * args.burst, token)
    dagster = None
    try:
        with stop_on_signals():
            stack = control.up(port=free_port(), home=home)
            env = {**os.environ, **stack.env, "TXVIZ_HOME": str(home)}
            os.environ.update(stack.env)
            settings = Settings.from_env(env)
            port = free_port()
            started = time.monotonic()
            dagster = orchestrator.start_dagster(settings, port, env)
            orchestrator.wait_for_dagster(port, dagster, settings, timeout=240)
            print(
                f"pipeline up in {time.monotonic() - started:.0f} s; sending {len(lines):,}"
                f" records, {args.burst} per burst every {args.interval:g} s",
                flush=True,
            )
            fast, slow = measure(settings, args, token, lines)
    finally:
        with signals_held():
            if dagster is not None:
                stop_group(dagster.pid)
            control.down(home)
            shutil.rmtree(work, ignore_errors=True)
    base = report(slow, len(lines)) if slow is not None else {}
    figures = report(fast, len(lines))
    if base and figures:
        print(
            f"\nbaseline / speed layer: p50 {base['p50'] / figures['p50']:.0f}x,"
            f" p95 {base['p95'] / figures['p95']:.0f}x"
        )
    print(
        f"p50 {figures.get('p50', float('nan')):.2f} s p95 {figures.get('p95', float('nan')):.2f} s"
    )


if __name__ == "__main__":
    main()
