"""Where the time of ``txviz demo`` goes, from a cold start, against the former start order.

    .venv/bin/python bench/bench_demo.py               # once each way, alternating
    .venv/bin/python bench/bench_demo.py --repeat 2

Each run is ``txviz demo --exit-when-ready --timings`` in a fresh TXVIZ_HOME on free ports, so
nothing is warm but the operating system's file cache. "before" adds ``--sequential``: the stack
first, then the dashboard and ``dagster dev``, and the replay launched through Dagster's GraphQL
API once its code location has loaded. "after" starts the stack server, the dashboard and
``dagster dev`` at once and runs the replay as soon as the stack is provisioned. The table gives
the seconds from the command's start to each step (the median over the repeats) and the ratio.
"first record landed" is when the speed layer can show data; "first dashboard data" is the
first row in the local SPICE.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from txviz_pipeline import demo  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port  # noqa: E402

EVENT_LINE = re.compile(r"^\[\s*([\d.]+) s\] (.+)$")
PHASES = [
    demo.STACK_STARTED,
    demo.DASHBOARD_STARTED,
    demo.DAGSTER_STARTED,
    demo.STACK_ANSWERING,
    demo.STACK_PROVISIONED,
    demo.INSTANCE_READY,
    demo.DASHBOARD_READY,
    demo.WEBSERVER_READY,
    demo.LOCATION_LOADED,
    demo.REPLAY_LAUNCHED,
    demo.DAEMON_READY,
    demo.FIRST_LANDED,
    demo.FIRST_DATA,
]
RUN_TIMEOUT_S = 400


def run_once(sequential: bool) -> tuple[dict[str, float], float]:
    """Events of one cold demo start (seconds from its start) and the command's wall time."""
    with tempfile.TemporaryDirectory(prefix="txviz-bench-demo-") as home:
        argv = [sys.executable, "-m", "txviz_pipeline.cli", "demo", "--exit-when-ready"]
        argv += ["--timings", "--moto-port", str(free_port())]
        argv += ["--dagster-port", str(free_port()), "--dashboard-port", str(free_port())]
        if sequential:
            argv.append("--sequential")
        began = time.monotonic()
        out = subprocess.run(
            argv,
            env={**os.environ, "TXVIZ_HOME": home},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        wall = time.monotonic() - began
    if out.returncode != 0:
        sys.exit(f"demo exited with {out.returncode}:\n{out.stdout}\n{out.stderr[-3000:]}")
    events = {}
    for line in out.stdout.splitlines():
        if m := EVENT_LINE.match(line):
            events[m.group(2)] = float(m.group(1))
    return events, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"before": [], "after": []}
    for i in range(args.repeat):
        for way in ("before", "after"):
            events, wall = run_once(sequential=way == "before")
            events["command exits"] = wall
            runs[way].append(events)
            print(f"run {i + 1} {way}: first data {events.get(demo.FIRST_DATA)} s", flush=True)

    def median(way: str, phase: str) -> float | None:
        values = [r[phase] for r in runs[way] if phase in r]
        return statistics.median(values) if values else None

    print(f"\n| step (s from start, median of {args.repeat}) | before | after | after/before |")
    print("|---|---|---|---|")
    for phase in [*PHASES, "command exits"]:
        before, after = median("before", phase), median("after", phase)
        ratio = f"{after / before:.2f}" if before and after is not None else "–"
        cells = [f"{v:.1f}" if v is not None else "–" for v in (before, after)]
        print(f"| {phase} | {cells[0]} | {cells[1]} | {ratio} |")


if __name__ == "__main__":
    main()
