"""Benchmark: Sparkov CSV -> NDJSON with txviz's converter against pandas, in the same run.

Each way runs in its own child process, so its peak RSS (ru_maxrss) is its own:

    .venv/bin/python bench/bench_convert.py                 # 200,000 generated rows
    .venv/bin/python bench/bench_convert.py --csv data/fraudTrain.csv
    .venv/bin/python bench/bench_convert.py --full          # also 100k vs 1.3M rows peak RSS
    .venv/bin/python bench/bench_convert.py --references    # also polars and DuckDB whole-file
    .venv/bin/python bench/bench_convert.py --repeat 3      # median of 3 alternating runs

The baseline is pandas ``read_csv`` + ``to_json(orient="records", lines=True)`` (cc_num read as
a string so both ways write the same values). Every ratio is against the pandas rate measured in
the same run; the header line shows the machine's load, since other work on a 2-core machine
moves both rates.

txviz runs two ways: as the ``txviz`` command runs it, in a process of its own with glibc told
to keep freed memory (``csvsource.allocator``), and as the Dagster asset runs it, inside the
run worker, where the allocator is left as it is. The second also reports its page faults.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

FULL_ROWS = 1_296_675  # fraudTrain.csv


def child(way: str, csv_path: str, out: str) -> dict[str, float]:
    """Run one conversion in this (child) process and measure it."""
    if way in ("txviz", "txviz-asset"):
        from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
        from txviz_pipeline.ingest.csvsource.allocator import keep_freed_memory

        if way == "txviz":
            keep_freed_memory()
        started = time.perf_counter()
        result = convert_csv_to_ndjson(csv_path, out)
        seconds = time.perf_counter() - started
        rows = result.rows_out
    elif way == "pandas":
        import pandas as pd

        started = time.perf_counter()
        frame = pd.read_csv(csv_path, dtype={"cc_num": str, "zip": str})
        Path(out).mkdir(parents=True, exist_ok=True)
        frame.to_json(Path(out) / "all.ndjson", orient="records", lines=True)
        seconds = time.perf_counter() - started
        rows = len(frame)
    elif way == "polars":
        import polars as pl

        started = time.perf_counter()
        frame = pl.read_csv(csv_path, schema_overrides={"cc_num": pl.String, "zip": pl.String})
        Path(out).mkdir(parents=True, exist_ok=True)
        frame.write_ndjson(Path(out) / "all.ndjson")
        seconds = time.perf_counter() - started
        rows = frame.height
    elif way == "duckdb":
        import duckdb

        started = time.perf_counter()
        Path(out).mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        types = "{'cc_num': 'VARCHAR', 'zip': 'VARCHAR'}"
        source = f"read_csv('{csv_path}', header=true, types={types})"
        con.execute(f"COPY (SELECT * FROM {source}) TO '{Path(out) / 'all.ndjson'}' (FORMAT json)")
        seconds = time.perf_counter() - started
        rows = con.execute(f"SELECT count(*) FROM {source}").fetchone()[0]
    else:
        raise ValueError(way)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows": rows,
        "seconds": seconds,
        "peak_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "cpu_seconds": usage.ru_utime + usage.ru_stime,  # the whole child, imports included
        "page_faults": usage.ru_minflt,
    }


def measure(way: str, csv_path: Path, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", way, str(csv_path), str(out)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median time (its own rows and peak RSS), and the number of runs."""
    ordered = sorted(runs, key=lambda r: r["seconds"])
    return {**ordered[(len(ordered) - 1) // 2], "runs": len(runs)}


def generate(rows: int, folder: Path) -> Path:
    from txviz_pipeline.generator.sparkov import generate_csv

    path = folder / f"sparkov-{rows}.csv"
    started = time.perf_counter()
    generate_csv(path, rows)
    seconds = time.perf_counter() - started
    size = path.stat().st_size / 2**20
    print(f"generated {rows:,} rows ({size:,.0f} MiB) in {seconds:.1f} s ({rows / seconds:,.0f}/s)")
    return path


def table(title: str, results: dict[str, dict[str, float]], base: float | None) -> None:
    """One line per way; speed is rows/s against ``base`` rows/s (the same run's pandas)."""
    print(f"\n{title}")
    print(f"{'way':<34}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'peak RSS':>11}{'speed':>8}")
    for name, r in results.items():
        rate = r["rows"] / r["seconds"]
        ratio = f"{rate / base:.1f}x" if base else "-"
        print(
            f"{name:<34}{r['rows']:>11,.0f}{r['seconds']:>9.2f}{rate:>11,.0f}"
            f"{r['peak_mib']:>8,.0f} MiB{ratio:>8}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows to generate")
    parser.add_argument("--csv", type=Path, help="convert this CSV instead of generating one")
    parser.add_argument("--full", action="store_true", help="also 100k vs 1.3M rows peak RSS")
    parser.add_argument(
        "--references", action="store_true", help="also time polars and DuckDB whole-file"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="alternate pandas and txviz N times; report medians"
    )
    parser.add_argument("--child", nargs=3, metavar=("WAY", "CSV", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) before the run")
    with tempfile.TemporaryDirectory(prefix="bench-convert-") as tmp:
        folder = Path(tmp)
        csv_path = args.csv or generate(args.rows, folder)
        runs: dict[str, list[dict[str, float]]] = {"pandas": [], "txviz": [], "txviz-asset": []}
        for i in range(args.repeat):
            for way in runs:
                runs[way].append(measure(way, csv_path, folder / f"{way}-{i}"))
        results = {
            "pandas read_csv + to_json": median_of(runs["pandas"]),
            "txviz convert_csv_to_ndjson": median_of(runs["txviz"]),
            "txviz, as the asset runs it": median_of(runs["txviz-asset"]),
        }
        if args.references:
            # Whole-file engines without row checks or rejects, for scale.
            results["polars read_csv + write_ndjson"] = measure("polars", csv_path, folder / "pl")
            results["duckdb COPY ... (FORMAT json)"] = measure("duckdb", csv_path, folder / "dk")
        if (
            results["pandas read_csv + to_json"]["rows"]
            != results["txviz convert_csv_to_ndjson"]["rows"]
        ):
            print("warning: the two ways wrote different row counts")
        pandas = results["pandas read_csv + to_json"]
        base = pandas["rows"] / pandas["seconds"]
        median = f", median of {args.repeat} runs" if args.repeat > 1 else ""
        table(f"CSV -> NDJSON, {csv_path.name}{median}", results, base)
        if args.repeat > 1:
            for way in ("txviz", "txviz-asset"):
                ratios = [
                    (t["rows"] / t["seconds"]) / (p["rows"] / p["seconds"])
                    for p, t in zip(runs["pandas"], runs[way], strict=True)
                ]
                print(f"{way}: speed of each run " + ", ".join(f"{r:.1f}x" for r in ratios))
        faults = {way: median_of(runs[way])["page_faults"] for way in ("txviz", "txviz-asset")}
        print(
            f"page faults (median run): {faults['txviz']:,.0f} with the allocator tuned, "
            f"{faults['txviz-asset']:,.0f} without"
        )

        if args.full:
            flat = {}
            for rows in (100_000, FULL_ROWS):
                path = generate(rows, folder)
                flat[f"txviz, {rows:,} rows"] = measure("txviz", path, folder / f"full-{rows}")
                path.unlink()
            table("Peak memory against file size (txviz; speed against the pandas rate above)",
                  flat, base)  # fmt: skip


if __name__ == "__main__":
    main()
