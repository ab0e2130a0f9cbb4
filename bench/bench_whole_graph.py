"""The whole graph on a Kaggle-sized file: from ``txviz demo --csv`` until every row is in the
local SPICE exactly once, with each process's peak memory.

    .venv/bin/python bench/bench_whole_graph.py                 # 1,296,675 generated rows
    .venv/bin/python bench/bench_whole_graph.py --rows 200000
    .venv/bin/python bench/bench_whole_graph.py --csv data/fraudTrain.csv --expect 1296675

The demo starts cold in a fresh TXVIZ_HOME on free ports (the generated CSV is cached under
``.bench-cache/``, outside the timing). Every second the bench reads the local SPICE the
dashboard reads and notes when it holds every row once (rows == distinct trans_num == expected),
and it reads each process's peak resident memory (VmHWM) and CPU time under the demo. The
replay's own start and end come from the demo's timings, so the table shows how much the graph
adds after the last row is sent: the baseline of the same run is the replay alone.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import duckdb  # noqa: E402

from txviz_pipeline.processes import start_group, stop_group  # noqa: E402
from txviz_pipeline.serving.queries import DATASET_TABLE  # noqa: E402
from txviz_pipeline.settings import Settings  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port  # noqa: E402

KAGGLE_ROWS = 1_296_675
POLL_S = 1.0
# The demo's --timings lines: "[  34.8 s] replay ended".
EVENT_LINE = re.compile(r"^\[\s*([\d.]+) s\] (.+)$", re.MULTILINE)


def generated_csv(rows: int) -> Path:
    path = REPO / ".bench-cache" / f"sparkov-{rows}.csv"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        cli = [sys.executable, "-m", "txviz_pipeline.cli"]
        subprocess.run([*cli, "generate", "--rows", str(rows), "-o", str(path)], check=True)
    return path


def spice_counts(settings: Settings, expected: int) -> tuple[int, int]:
    """(rows, distinct trans_num) in the local SPICE; (0, 0) before its first refresh, and no
    distinct count while fewer than ``expected`` rows are in."""
    if not settings.spice_path.exists():
        return 0, 0
    try:
        con = duckdb.connect(str(settings.spice_path), read_only=True)
    except duckdb.Error:
        return 0, 0  # swapped while opening
    try:
        rows = con.execute(f"SELECT count(*) FROM {DATASET_TABLE}").fetchone()[0]
        if rows < expected:  # the distinct count only once it can matter: it costs the demo CPU
            return rows, 0
        sql = f"SELECT count(DISTINCT trans_num) FROM {DATASET_TABLE}"
        return rows, con.execute(sql).fetchone()[0]
    finally:
        con.close()


def descendants(root: int) -> list[int]:
    """``root`` and every process below it, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


LABELS = (
    ("stack server (moto + processor)", "stack"),
    ("replay", "replay"),
    ("dashboard", "streamlit"),
    ("Dagster run", "execute_run"),
    ("Dagster code server", "code-server"),
    ("Dagster code server", "api grpc"),
    ("Dagster daemon", "dagster._daemon"),
    ("Dagster webserver", "dagster_webserver"),
    ("dagster dev", "dagster dev"),
    ("txviz demo", "demo"),
)


def label(pid: int) -> str | None:
    """What the process is, from its command line; None for helpers (log tails, trackers)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    if "resource_tracker" in text or not text.startswith(sys.executable.rsplit("/", 1)[0]):
        return None
    if "multiprocessing.spawn" in text:
        parent = label(parent_of(pid))
        if parent == "Dagster code server":
            return f"Dagster run {running_step(pid) or '?'}"
        return f"{parent} worker" if parent else None
    return next((name for name, needle in LABELS if needle in text), None)


def running_step(pid: int) -> str | None:
    """The step a Dagster run process is executing: the compute log file it has open."""
    try:
        targets = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        return None
    logs = [Path(t) for t in targets if "compute_logs" in t and t.endswith((".out", ".err"))]
    # .../storage/<run_id>/compute_logs/<log key>.out: the run names the job (see job_names).
    return logs[0].parent.parent.name if logs else None


def job_runs(dagster_home: Path) -> list[tuple[str, str, float, float]]:
    """(run id, job name, seconds from start to end, seconds waiting in the queue) of each run,
    from the demo instance's run storage (SQLite)."""
    import sqlite3

    db = dagster_home / "history" / "runs.db"
    if not db.exists():
        return []
    sql = (
        "SELECT run_id, pipeline_name, coalesce(end_time - start_time, 0), "
        "coalesce(start_time - strftime('%s', create_timestamp), 0) FROM runs"
    )
    with sqlite3.connect(db) as con:
        return con.execute(sql).fetchall()


def parent_of(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=KAGGLE_ROWS)
    parser.add_argument("--csv", type=Path, help="replay this file instead of a generated one")
    parser.add_argument("--expect", type=int, help="rows the CSV holds (default: --rows)")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", type=Path, help="run in this TXVIZ_HOME and keep it")
    args = parser.parse_args()
    csv = args.csv.resolve() if args.csv else generated_csv(args.rows)
    expected = args.expect or args.rows

    with tempfile.TemporaryDirectory(prefix="txviz-bench-graph-") as home:
        if args.keep:
            home = str(args.keep.resolve())
        env = {**os.environ, "TXVIZ_HOME": home, "TXVIZ_DATA_DIRS": str(csv.parent)}
        settings = Settings.from_env(env)
        argv = [sys.executable, "-m", "txviz_pipeline.cli", "demo", "--csv", str(csv)]
        argv += ["--moto-port", str(free_port()), "--dagster-port", str(free_port())]
        argv += ["--dashboard-port", str(free_port()), "--timings"]
        log = Path(home) / "bench-demo.log"
        began = time.monotonic()
        demo = start_group(argv, env=env, log_path=log, cwd=REPO)
        peaks: dict[str, float] = {}
        cpu: dict[int, tuple[str, float]] = {}  # pid -> (label, CPU seconds when last seen)
        done_at = None
        counts = (0, 0)
        try:
            while time.monotonic() - began < args.timeout:
                for pid in descendants(demo.pid):
                    name, peak = label(pid), peak_rss_mib(pid)
                    if name and peak:
                        peaks[name] = max(peaks.get(name, 0.0), peak)
                    if name and (used := cpu_seconds(pid)) is not None:
                        cpu[pid] = (name, used)
                if demo.poll() is not None:
                    sys.exit(f"demo exited with {demo.returncode}:\n{log.read_text()[-3000:]}")
                counts = spice_counts(settings, expected)
                if counts[0] >= expected:
                    done_at = time.monotonic() - began
                    break
                time.sleep(POLL_S)
        finally:
            # The demo stops its own servers (in their own sessions) on SIGTERM; give it time.
            stop_group(demo.pid, timeout=120)
        demo_text = log.read_text()
        runs = job_runs(Path(home) / "dagster")
    jobs = {run_id: job for run_id, job, _, _ in runs}

    if done_at is None:
        sys.exit(f"not every row in SPICE after {args.timeout:.0f} s: {counts} of {expected:,}")
    rows, distinct = counts
    print("\n".join(line for line in demo_text.splitlines() if EVENT_LINE.match(line)))
    events = {name: float(at) for at, name in EVENT_LINE.findall(demo_text)}
    replay_s = None
    if "replay launched" in events and "replay ended" in events:
        replay_s = events["replay ended"] - events["replay launched"]
    print(f"\n| measure | {csv.name} ({expected:,} rows) |")
    print("|---|---|")
    print(f"| `txviz demo --csv` start → every row in the local SPICE | {done_at:.1f} s |")
    if replay_s:
        print(f"| the replay alone (launched → ended) | {replay_s:.1f} s |")
        print(f"| whole graph / replay alone | {done_at / replay_s:.2f} |")
    print(f"| rows in SPICE / distinct trans_num | {rows:,} / {distinct:,} of {expected:,} |")

    def by_job(name: str) -> str:
        run_id = name.removeprefix("Dagster run ")
        return f"Dagster run of {jobs[run_id]}" if run_id in jobs else name

    peak_by_job: dict[str, float] = {}
    for name, peak in peaks.items():
        peak_by_job[by_job(name)] = max(peak_by_job.get(by_job(name), 0.0), peak)
    for name, peak in sorted(peak_by_job.items(), key=lambda kv: -kv[1]):
        print(f"| peak RSS, {name} | {peak:,.0f} MiB |")
    # CPU as last sampled (a process that ended misses at most its last poll interval).
    cpu_by_job: dict[str, float] = {}
    for name, used in cpu.values():
        cpu_by_job[by_job(name)] = cpu_by_job.get(by_job(name), 0.0) + used
    for name, used in sorted(cpu_by_job.items(), key=lambda kv: -kv[1]):
        print(f"| CPU, {name} | {used:,.0f} s |")
    per_job: dict[str, list[tuple[float, float]]] = {}
    for _, job, took, queued in runs:
        per_job.setdefault(job, []).append((took, queued))
    for job, times in sorted(per_job.items()):
        took = sum(t for t, _ in times)
        queued = sum(q for _, q in times) / len(times)
        summary = f"{len(times)}, {took:,.0f} s in all, {queued:.1f} s queued on average"
        print(f"| runs of {job} | {summary} |")
    if not rows == distinct == expected:
        sys.exit("SPICE does not hold every row exactly once")


if __name__ == "__main__":
    main()
