"""Benchmark: incremental compaction against the full-hour compaction it replaced, same run.

An arrival hour fills with Firehose-sized objects (500 landing records each, one in 200 records
delivered again in the next object); after every batch of new objects (``--batch`` rows, what
the sensor would have queued) each way compacts the hour, each run in a child process of its
own, as a Dagster run would be:

- baseline: the full-hour compaction of commit BASELINE_COMMIT (read from git), which re-reads
  every object of the hour as Python lists on every run;
- incremental: ``txviz_pipeline.compaction.compact_partition``, which reads only new objects.

Both ways see the same landing objects on one bare moto server over HTTP; the baseline writes
under another prefix so neither touches the other's output. Reported per hour size: total
compaction seconds (inside the children, imports excluded), landing lines parsed, and the
largest peak RSS (VmHWM) of any run; the floor is a child that imports and compacts nothing.

    .venv/bin/python bench/bench_compaction.py                       # 50k, 200k, 800k rows
    .venv/bin/python bench/bench_compaction.py --sizes 50000 --batch 25000
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "lambda"):  # the test records' builders import the processor's
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from txviz_pipeline import aws  # noqa: E402
from txviz_pipeline.processes import stop_group  # noqa: E402
from txviz_pipeline.settings import Settings, embedded_env  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port, start_moto_server  # noqa: E402

# The last commit whose compaction re-read the whole hour on every run.
BASELINE_COMMIT = "7458065"
PARTITION = "2026/11/27/09"
OBJECT_ROWS = 500  # one PutRecordBatch: one object on the embedded stack
REDELIVERED_EVERY = 200
# Set to try another batch size than compaction's own (BATCH_ROWS in compaction/compact.py).
BATCH_ROWS_ENV = "TXVIZ_BENCH_BATCH_ROWS"


def baseline_module() -> types.ModuleType:
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{BASELINE_COMMIT}:txviz_pipeline/compaction/compact.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("baseline_compact")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, "baseline_compact.py", "exec"), module.__dict__)  # noqa: S102
    module.CURATED_PREFIX = "bench-baseline/"
    return module


def child_main(way: str) -> None:
    """One compaction of PARTITION in this process; prints its figures as JSON."""
    settings = Settings.from_env()
    # pyarrow imports pandas on its first pa.array(list); a Dagster run has it loaded already.
    import pandas  # noqa: F401

    if way == "floor":
        import txviz_pipeline.compaction  # noqa: F401

        seconds, lines, rows = 0.0, 0, 0
    elif way == "baseline":
        compact = baseline_module().compact_partition
        started = time.perf_counter()
        result = compact(settings, PARTITION)
        seconds, lines, rows = time.perf_counter() - started, result.lines, result.rows_written
    else:
        from txviz_pipeline.compaction import compact_partition

        started = time.perf_counter()
        batch = (
            {"batch_rows": int(os.environ[BATCH_ROWS_ENV])} if BATCH_ROWS_ENV in os.environ else {}
        )
        result = compact_partition(settings, PARTITION, **batch)
        seconds, lines, rows = time.perf_counter() - started, result.run.lines, result.hour.rows
        assert result.reconciles
    peak_kb = peak_rss_kb()
    print(
        json.dumps({"seconds": seconds, "lines": lines, "rows": rows, "peak_mib": peak_kb / 1024})
    )


def peak_rss_kb() -> int:
    """This process's peak RSS since exec: VmHWM. (ru_maxrss would carry over the parent's peak
    at fork, here the bench's own, across exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(way: str, env: dict[str, str]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", way], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise SystemExit(f"{way} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def objects(rows: int) -> Iterator[bytes]:
    """The hour's objects: landing records, each REDELIVERED_EVERY-th one again in the next."""
    import orjson

    from txviz_pipeline_tests.compaction.records import landing_record

    template = landing_record(0)
    carry: list[bytes] = []
    for start in range(0, rows, OBJECT_ROWS):
        lines = list(carry)
        carry = []
        for i in range(start, min(rows, start + OBJECT_ROWS)):
            line = orjson.dumps({**template, "trans_num": f"{i:032x}", "row_id": i}) + b"\n"
            lines.append(line)
            if i % REDELIVERED_EVERY == 0:
                carry.append(line)
        yield b"".join(lines)


def upload(settings: Settings, first: int, bodies: list[bytes]) -> None:
    s3 = aws.client("s3", settings)

    def put(item: tuple[int, bytes]) -> None:
        n, body = item
        key = f"landing/{PARTITION}/txviz-transactions-1-2026-11-27-09-{n:06d}"
        s3.put_object(Bucket=settings.bucket, Key=key, Body=body)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, enumerate(bodies, start=first)))


def measure(settings: Settings, env: dict[str, str], rows: int, batch: int) -> dict:
    urllib.request.urlopen(
        urllib.request.Request(f"{settings.endpoint_url}/moto-api/reset", method="POST")
    ).close()
    aws.client("s3", settings).create_bucket(Bucket=settings.bucket)
    bodies = objects(rows)
    per_batch = max(1, batch // OBJECT_ROWS)
    totals = {way: {"seconds": 0.0, "lines": 0, "peak_mib": 0.0, "runs": 0} for way in WAYS}
    final_rows = {}
    for first in itertools.count(0, per_batch):
        landed = list(itertools.islice(bodies, per_batch))
        if not landed:
            break
        upload(settings, first, landed)
        del landed
        for way in WAYS:
            figures = run_child(way, env)
            t = totals[way]
            t["seconds"] += figures["seconds"]
            t["lines"] += figures["lines"]
            t["peak_mib"] = max(t["peak_mib"], figures["peak_mib"])
            t["runs"] += 1
            final_rows[way] = figures["rows"]
    assert final_rows["baseline"] == final_rows["incremental"] == rows, final_rows
    return totals


WAYS = ("baseline", "incremental")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 800_000])
    parser.add_argument("--batch", type=int, default=100_000, help="rows landed between runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-compaction-"))
    port = free_port()
    env = {**os.environ, **embedded_env(port, work / "home")}
    server = start_moto_server(port, work / "moto.log")
    try:
        settings = Settings.from_env(env)
        floor = run_child("floor", env)["peak_mib"]
        load = os.getloadavg()[0]
        print(f"{os.cpu_count()} CPUs, load {load:.1f}; a child that imports: {floor:.0f} MiB")
        print(
            "| rows in the hour | runs | baseline s | incremental s | baseline/incremental "
            "| lines parsed (baseline / incremental) | peak RSS MiB (baseline / incremental) |"
        )
        print("|---|---|---|---|---|---|---|")
        for rows in args.sizes:
            t = measure(settings, env, rows, args.batch)
            b, i = t["baseline"], t["incremental"]
            print(
                f"| {rows:,} | {b['runs']} | {b['seconds']:.1f} | {i['seconds']:.1f} | "
                f"{b['seconds'] / i['seconds']:.1f}x | {b['lines']:,} / {i['lines']:,} | "
                f"{b['peak_mib']:.0f} / {i['peak_mib']:.0f} |",
                flush=True,
            )
    finally:
        stop_group(server.pid)
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
