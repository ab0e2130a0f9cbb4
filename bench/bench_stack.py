"""The embedded stack's replay ceiling: this tree's stack server against a baseline revision's.

    .venv/bin/python bench/bench_stack.py                        # 50k rows, baseline main
    .venv/bin/python bench/bench_stack.py --rows 100000 --baseline <rev> --repeat 2

Each run starts the embedded stack (``control.up``) of one tree in a fresh home, replays the
same Sparkov rows into it with ``replay()`` (quotas lifted, so the server is what is measured),
reads the processor's counters to check that every row was processed, and stops the stack. The
baseline tree is ``git archive <rev>`` in a temporary folder, run with the same interpreter;
runs alternate baseline / this tree so a machine that gets busier hurts both.

Per run: seconds to start the stack, the replay's rec/s (without its worker start-up), the
command from cold (stack start + replay), and CPU seconds per record of the stack server's
processes (the server and, if any, its processor process) and of the replay. CPU time is the
measure to trust on a shared machine; rec/s depends on what else runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench_replay import (  # noqa: E402
    _descendants,
    run_replay_child,
    write_sparkov,
    write_synthetic,
)

from txviz_pipeline.settings import Settings, embedded_env  # noqa: E402
from txviz_pipeline.stack.control import STATS_PATH  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port  # noqa: E402

UNLIMITED = {"max_records_per_s": None, "max_bytes_per_s": None, "max_requests_per_s": None}
CONTROL = (
    "import sys, json; from txviz_pipeline.stack import control; "
    "i = control.up(int(sys.argv[1]), sys.argv[2]) if sys.argv[3] == 'up' "
    "else control.down(sys.argv[2]); print(json.dumps(i.pid if sys.argv[3] == 'up' else 0))"
)


def control(tree: Path, port: int, home: Path, action: str) -> int:
    """``control.up``/``down`` of ``tree``'s code (its own txviz_pipeline first on the path)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CONTROL, str(port), str(home), action],
        cwd=tree,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> dict[int, float]:
    return {p: cpu_s(p) for p in _descendants(pid)}


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def processed(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{STATS_PATH}", timeout=10) as resp:
        stats = json.loads(resp.read())
    return sum(s["records_in"] for s in stats.values())


def run_once(tree: Path, dataset: Path, rows: int, work: Path) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="home-", dir=work))
    port = free_port()
    t0 = time.perf_counter()
    pid = control(tree, port, home, "up")
    up_s = time.perf_counter() - t0
    try:
        settings = Settings.from_env(embedded_env(port, home))
        before = tree_cpu(pid)
        client0 = children_cpu()
        t1 = time.perf_counter()
        result = run_replay_child(settings, dataset, rows, **UNLIMITED)
        replay_s = time.perf_counter() - t1
        client = children_cpu() - client0
        after = tree_cpu(pid)
        done = processed(port)
    finally:
        control(tree, port, home, "down")
    if done != rows:
        raise SystemExit(f"{tree}: the processor saw {done} records, not {rows}")
    server = after.get(pid, 0.0) - before.get(pid, 0.0)
    others = sum(v - before.get(p, 0.0) for p, v in after.items() if p != pid)
    return {
        "up_s": up_s,
        "cold_s": up_s + replay_s,
        "rate": result["rows"] / (result["duration_s"] - result["startup_s"]),
        "server_us": server / rows * 1e6,
        "processor_us": others / rows * 1e6,
        "client_us": client / rows * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--baseline", default="main", help="git revision to compare against")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-stack-"))
    try:
        base = work / "baseline"
        base.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", args.baseline], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        dataset = write_sparkov(work / "ndjson", args.rows) or write_synthetic(
            work / "ndjson", args.rows
        )
        trees = {f"baseline ({args.baseline})": base, "this tree": REPO}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        load = [os.getloadavg()[0]]
        for i in range(args.repeat):
            for name, tree in trees.items():
                r = run_once(tree, dataset, args.rows, work)
                runs[name].append(r)
                load.append(os.getloadavg()[0])
                print(f"[{i + 1}] {name}: {json.dumps({k: round(v, 1) for k, v in r.items()})}")

        print()
        print(
            f"{args.rows:,} rows, quotas lifted; {os.cpu_count()} CPUs; 1-min load average "
            f"{min(load):.1f}-{max(load):.1f} during the runs"
        )
        cols = ["up_s", "cold_s", "rate", "server_us", "processor_us", "client_us"]
        heads = [
            "stack up s",
            "cold cmd s",
            "rec/s",
            "server µs/rec",
            "processor µs/rec",
            "replay µs/rec",
        ]
        print(f"{'':24}" + "".join(f"{h:>17}" for h in heads))
        medians = {}
        for name, rs in runs.items():
            medians[name] = {c: statistics.median(r[c] for r in rs) for c in cols}
            print(f"{name:24}" + "".join(f"{medians[name][c]:>17,.1f}" for c in cols))
        b, t = medians.values()
        stack_b, stack_t = b["server_us"] + b["processor_us"], t["server_us"] + t["processor_us"]
        busiest_b = max(b["server_us"], b["processor_us"])
        busiest_t = max(t["server_us"], t["processor_us"])
        print(
            f"this tree / baseline: rec/s {t['rate'] / b['rate']:.2f}x, stack CPU per record "
            f"{stack_t / stack_b:.2f}x, busiest stack process per record "
            f"{busiest_t / busiest_b:.2f}x"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
