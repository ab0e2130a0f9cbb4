"""Benchmark: the local SPICE refresh that adds new Parquet, against one that reads every file.

A replay fills the curated zone one compaction part at a time, and the compaction sensor asks
for a SPICE refresh after each. This puts ``--parts`` parts of ``--part-rows`` rows each in a
bare moto server over HTTP and refreshes after every part, two ways in the same run:

- baseline: every file again (the SPICE file removed first, so ``refresh_local_spice`` builds
  from every curated file, as every refresh did before it could extend one);
- incremental: ``refresh_local_spice`` as the pipeline runs it, reading only the new part.

Reported: seconds of all refreshes, and of the last one (the whole table), each way and as a
ratio; both ways end with the same rows.

    .venv/bin/python bench/bench_spice.py                        # 10 parts of 130,000 rows
    .venv/bin/python bench/bench_spice.py --parts 4 --part-rows 50000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for path in (REPO, REPO / "lambda"):  # the test records' builders import the processor's
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import orjson  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from txviz_pipeline import aws  # noqa: E402
from txviz_pipeline.compaction import curated_part_key, parse_landing_lines  # noqa: E402
from txviz_pipeline.processes import stop_group  # noqa: E402
from txviz_pipeline.serving.spice import refresh_local_spice  # noqa: E402
from txviz_pipeline.settings import Settings, embedded_env  # noqa: E402
from txviz_pipeline_tests.compaction.records import landing_record  # noqa: E402
from txviz_pipeline_tests.support.moto import free_port, start_moto_server  # noqa: E402

PARTITION = "2026/11/27/09"


def part_bytes(template: pa.Table, part: int) -> bytes:
    """The template's rows with trans_nums of their own, as a compacted Parquet part."""
    trans_nums = pa.array([f"{part:08x}{i:024x}" for i in range(template.num_rows)])
    table = template.set_column(0, "trans_num", trans_nums)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def timed_refresh(settings: Settings, every_file: bool) -> tuple[float, int]:
    if every_file:
        settings.spice_path.unlink(missing_ok=True)
    started = time.perf_counter()
    result = refresh_local_spice(settings)
    return time.perf_counter() - started, result.rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", type=int, default=10)
    parser.add_argument("--part-rows", type=int, default=130_000)
    args = parser.parse_args()
    lines = [orjson.dumps(landing_record(i)) for i in range(args.part_rows)]
    template, bad = parse_landing_lines(lines)
    assert bad == 0

    with tempfile.TemporaryDirectory(prefix="txviz-bench-spice-") as tmp:
        port = free_port()
        server = start_moto_server(port, Path(tmp) / "moto.log")
        try:
            ways = {}
            for way in ("baseline", "incremental"):
                settings = Settings.from_env(embedded_env(port, home=Path(tmp) / way))
                s3 = aws.client("s3", settings)
                s3.create_bucket(Bucket=settings.bucket)
                ways[way] = (settings, s3)
            times: dict[str, list[float]] = {way: [] for way in ways}
            rows: dict[str, int] = {}
            for part in range(args.parts):
                body = part_bytes(template, part)
                for way, (settings, s3) in ways.items():
                    key = curated_part_key(PARTITION, part)
                    s3.put_object(Bucket=settings.bucket, Key=key, Body=body)
                    took, rows[way] = timed_refresh(settings, every_file=way == "baseline")
                    times[way].append(took)
        finally:
            stop_group(server.pid)

    total = args.parts * args.part_rows
    assert rows["baseline"] == rows["incremental"] == total, rows
    base, inc = times["baseline"], times["incremental"]
    print(
        f"| refreshes after each of {args.parts} parts ({total:,} rows) | every file | "
        "new files | ratio |"
    )
    print("|---|---|---|---|")
    print(f"| all refreshes | {sum(base):.1f} s | {sum(inc):.1f} s | {sum(base) / sum(inc):.1f}× |")
    print(f"| the last refresh | {base[-1]:.1f} s | {inc[-1]:.1f} s | {base[-1] / inc[-1]:.1f}× |")


if __name__ == "__main__":
    main()
