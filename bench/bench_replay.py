"""Benchmark the Firehose replay against its baselines, in one run, on one moto server.

    .venv/bin/python bench/bench_replay.py              # 100k rows
    .venv/bin/python bench/bench_replay.py --full       # also 1.3M rows (memory stays flat?)
    .venv/bin/python bench/bench_replay.py --stack embedded   # the full embedded stack

Rows of the table:
  (a) the prototype's way: one put_record per record, one at a time (a sample of rows)
  (b) replay(): N worker processes, 500-record batches, quotas lifted so the engine is measured
  (b') replay() at the default quota (5 MiB/s): shows the limiter holding the stream's quota
  (c) raw ceiling: pre-built 500-record PutRecordBatch calls from one process, same server
  (d) replay() into a null sink (a client that accepts everything instantly): the client side
Each replay runs in a child process whose process tree (workers included) is sampled for
memory; "peak MB" is the summed PSS of the tree, so pages shared after fork count once.

One file, over 400 lines, on purpose: a benchmark is run as a script from a clean checkout, and
its rows share one server, one dataset and one memory sampler, so the reader sees every
baseline and what it measures in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from txviz_pipeline import aws  # noqa: E402
from txviz_pipeline.processes import stop_group  # noqa: E402
from txviz_pipeline.settings import Settings, embedded_env  # noqa: E402
from txviz_pipeline_tests.support.moto import (  # noqa: E402
    create_plain_stream,
    free_port,
    start_moto_server,
)

CATEGORIES = ["gas_transport", "grocery_pos", "home", "shopping_pos", "kids_pets", "misc_net"]
_OK: dict[str, Any] = {"RecordId": "null"}


# --- a null sink for (d); module level so worker processes can unpickle it --------------------


class NullFirehose:
    """Accepts every record instantly: measures everything of the replay except the network."""

    def put_record_batch(self, DeliveryStreamName: str, Records: list) -> dict:  # noqa: N803
        return {"FailedPutCount": 0, "Encrypted": False, "RequestResponses": [_OK] * len(Records)}


def null_firehose(settings: Settings) -> NullFirehose:
    return NullFirehose()


class MeteredNullFirehose(NullFirehose):
    """A null sink that notes each call's time, records and bytes in a file per process (under
    ``$TXVIZ_BENCH_METER_DIR``): the limiter's output with no server in the way."""

    def __init__(self) -> None:
        folder = Path(os.environ["TXVIZ_BENCH_METER_DIR"])
        self._log = open(folder / f"{os.getpid()}.log", "a")  # noqa: SIM115 (the worker's life)

    def put_record_batch(self, DeliveryStreamName: str, Records: list) -> dict:  # noqa: N803
        nbytes = sum(len(r["Data"]) for r in Records)
        self._log.write(f"{time.monotonic()} {len(Records)} {nbytes}\n")
        self._log.flush()
        return super().put_record_batch(DeliveryStreamName, Records)


def metered_null_firehose(settings: Settings) -> MeteredNullFirehose:
    return MeteredNullFirehose()


# --- data -----------------------------------------------------------------------------------


def write_synthetic(directory: Path, rows: int, part_rows: int = 250_000) -> Path:
    """An NDJSON dataset (convert's layout) of ~450-byte Sparkov-like records."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    parts, total_bytes = [], 0
    t0 = 1_546_300_818  # 2019-01-01 00:00:18
    for p, start in enumerate(range(0, rows, part_rows)):
        lines = []
        for i in range(start, min(rows, start + part_rows)):
            ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + i))
            card = rng.randrange(10**15, 10**16)
            lines.append(
                f'{{"row_id":{i},"trans_date_trans_time":"{ts}","cc_num":"{card}",'
                f'"merchant":"fraud_Rippin, Kub and Mann","category":"{rng.choice(CATEGORIES)}",'
                f'"amt":{rng.uniform(1, 500):.2f},"first":"Jennifer","last":"Banks","gender":"F",'
                f'"street":"561 Perry Cove","city":"Moravian","state":"NC","zip":"28654",'
                f'"lat":36.0788,"long":-81.1781,"city_pop":3495,"job":"Psychologist",'
                f'"dob":"1988-03-09","trans_num":"{rng.getrandbits(128):032x}",'
                f'"unix_time":{t0 + i - 220_838_400},"merch_lat":36.011293,"merch_long":-82.048315,'
                f'"is_fraud":0}}\n'
            )
        data = "".join(lines).encode()
        name = f"part-{p:05d}.ndjson"
        (directory / name).write_bytes(data)
        parts.append({"name": name, "rows": len(lines), "bytes": len(data), "first_row_id": start})
        total_bytes += len(data)
    manifest = {
        "source": "synthetic",
        "rows": rows,
        "bytes": total_bytes,
        "rejected": 0,
        "rejects": "rejects.ndjson",
        "first_event_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0)),
        "last_event_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + rows - 1)),
        "parts": parts,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def write_sparkov(directory: Path, rows: int) -> Path | None:
    """The project's own path: Sparkov generator -> CSV -> convert; None if not available."""
    try:
        from txviz_pipeline.generator.sparkov import generate_csv
        from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
    except ImportError:
        return None
    csv_path = directory.parent / "sparkov.csv"
    generate_csv(csv_path, rows)
    convert_csv_to_ndjson(csv_path, directory)
    csv_path.unlink()
    return directory


def read_lines(dataset: Path, n: int) -> list[bytes]:
    out: list[bytes] = []
    manifest = json.loads((dataset / "manifest.json").read_text())
    for part in manifest["parts"]:
        with open(dataset / part["name"], "rb") as f:
            for line in f:
                out.append(line)
                if len(out) == n:
                    return out
    return out


# --- servers ---------------------------------------------------------------------------------


def stop(proc: subprocess.Popen) -> None:
    stop_group(proc.pid)
    proc.wait(timeout=10)


# --- measurements ----------------------------------------------------------------------------


def per_record(settings: Settings, lines: list[bytes]) -> float:
    """(a) The prototype: put_record, one record per call, one call at a time."""
    client = aws.client("firehose", settings)
    client.put_record(DeliveryStreamName=settings.delivery_stream, Record={"Data": lines[0]})
    start = time.perf_counter()
    for line in lines:
        client.put_record(DeliveryStreamName=settings.delivery_stream, Record={"Data": line})
    return len(lines) / (time.perf_counter() - start)


def raw_ceiling(settings: Settings, lines: list[bytes]) -> float:
    """(c) 500-record PutRecordBatch calls built beforehand, from this one process."""
    client = aws.client("firehose", settings)
    batches = [[{"Data": x} for x in lines[i : i + 500]] for i in range(0, len(lines), 500)]
    client.put_record_batch(DeliveryStreamName=settings.delivery_stream, Records=batches[0])
    start = time.perf_counter()
    for batch in batches:
        client.put_record_batch(DeliveryStreamName=settings.delivery_stream, Records=batch)
    return len(lines) / (time.perf_counter() - start)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def _pss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_replay_child(settings: Settings, dataset: Path, rows: int | None, **opts: Any) -> dict:
    """Run replay() in a child process; return its result and the tree's peak PSS in MB."""
    env = {
        **os.environ,
        **embedded_env(int(settings.endpoint_url.rsplit(":", 1)[1]), settings.home),
    }
    cmd = [sys.executable, __file__, "--child", str(dataset), json.dumps({"rows": rows, **opts})]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, start_new_session=True)
    peak = 0
    stop_sampling = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop_sampling.is_set():
            peak = max(peak, sum(_pss_kb(p) for p in _descendants(proc.pid)))
            stop_sampling.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, _ = proc.communicate(timeout=3600)
    finally:
        stop_sampling.set()
        sampler.join()
        stop(proc)
    if proc.returncode != 0:
        raise SystemExit(f"replay child failed with {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["peak_mb"] = peak / 1024
    return result


def child_main(dataset: str, raw_opts: str) -> None:
    from txviz_pipeline.ingest.replay.api import ReplayOptions, replay

    opts = json.loads(raw_opts)
    factory = null_firehose if opts.pop("null_sink", False) else None
    factory = metered_null_firehose if opts.pop("metered_sink", False) else factory
    if opts.get("parts", 1) > 1:
        print(json.dumps(_parts_child(Path(dataset), ReplayOptions(resume=False, **opts), factory)))
        return
    result = replay(
        Path(dataset),
        Settings.from_env(),
        ReplayOptions(resume=False, **opts),
        client_factory=factory,
    )
    print(json.dumps({k: v for k, v in result.__dict__.items() if not isinstance(v, tuple)}))


def _parts_child(dataset: Path, options: Any, factory: Any) -> dict:
    """Every part at once, as ``txviz replay --parts`` runs them; one result for them all."""
    from txviz_pipeline.ingest.replay.fanout import replay_parts

    started = time.monotonic()
    outcomes = replay_parts(dataset, Settings.from_env(), options, "bench", client_factory=factory)
    failed = [o for o in outcomes.values() if isinstance(o, Exception)]
    if failed:
        raise SystemExit(f"parts failed: {failed}")
    duration = time.monotonic() - started
    rows = sum(o.rows for o in outcomes.values())
    nbytes = sum(o.bytes for o in outcomes.values())
    startup = max(o.startup_s for o in outcomes.values())
    return {
        "rows": rows,
        "duration_s": duration,
        "startup_s": startup,
        "mib_per_s": nbytes / duration / 2**20,
    }


def quota_metered(settings: Settings, work: Path, dataset: Path, rows: int, procs: dict) -> None:
    """(b') into a metered null sink: throughput at the default quota and the largest totals
    any one-second window (aligned on whole seconds, or sliding) of the calls held."""
    from txviz_pipeline_tests.support.metering import Meter, Put

    folder = work / "meter"
    folder.mkdir()
    os.environ["TXVIZ_BENCH_METER_DIR"] = str(folder)
    q = run_replay_child(settings, dataset, rows, metered_sink=True, **procs)
    meter = Meter()
    for log in folder.iterdir():
        for line in log.read_text().splitlines():
            at, records, nbytes = line.split()
            meter.puts.append(Put(float(at), "null", int(records), int(nbytes)))
    worst = meter.per_second()
    (total,) = meter.totals().values()
    quota = 5 * 1024 * 1024
    span = total["last"] - total["first"]
    rate = q["rows"] / (q["duration_s"] - q["startup_s"])
    print(
        f"(b') {q['rows']:,} rows at the default quota into a null sink "
        f"({procs.get('parts', 1)} part(s)): {rate:,.0f} rec/s, "
        f"{total['bytes'] / span / 2**20:.3f} MiB/s from first to last call "
        f"({total['bytes'] / span / quota:.3f}x the quota); busiest 1-s window "
        f"{worst['bytes'] / 2**20:.3f} MiB = {worst['bytes'] / quota:.3f}x the quota "
        f"({worst['requests']:.0f} calls, {worst['records']:,.0f} records)"
    )


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="rows for (a)")
    parser.add_argument("--null-rows", type=int, default=500_000, help="rows for (d)")
    parser.add_argument("--full", action="store_true", help="also replay 1.3M rows")
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--stack", choices=["moto", "embedded"], default="moto")
    parser.add_argument("--data", choices=["auto", "sparkov", "synthetic"], default="auto")
    parser.add_argument(
        "--quota-only",
        action="store_true",
        help="only (b') into a metered null sink: throughput and the busiest second",
    )
    parser.add_argument("--parts", type=int, default=1, help="with --quota-only: a replay in parts")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    port = free_port()
    server = None
    try:
        home = work / "home"
        if args.stack == "embedded":
            from txviz_pipeline.stack import control

            settings = control.up(port, home).settings
        else:
            server = start_moto_server(port, work / "moto.log")
            settings = Settings.from_env(embedded_env(port, home))
            os.environ.update(embedded_env(port, home))
            create_plain_stream(settings)
        os.environ.update(embedded_env(port, home))

        t = time.perf_counter()
        big = max(args.rows, args.null_rows, 1_300_000 if args.full else 0)
        dataset = None
        if args.data in ("auto", "sparkov"):
            dataset = write_sparkov(work / "ndjson", big)
            if dataset is None and args.data == "sparkov":
                raise SystemExit("generator.sparkov / ingest.convert are not available")
        kind = "sparkov+convert" if dataset else "synthetic"
        dataset = dataset or write_synthetic(work / "ndjson", big)
        record_bytes = json.loads((dataset / "manifest.json").read_text())["bytes"] / big
        print(
            f"dataset ({kind}): {big:,} rows, {record_bytes:.0f} bytes/record, "
            f"{time.perf_counter() - t:.1f} s to write; server: {args.stack} on port {port}; "
            f"{os.cpu_count()} CPUs",
            flush=True,
        )

        procs = {"processes": args.processes}
        if args.quota_only:
            quota_metered(settings, work, dataset, args.rows, {**procs, "parts": args.parts})
            return
        unlimited = {"max_records_per_s": None, "max_bytes_per_s": None, "max_requests_per_s": None}
        rows: list[tuple[str, int, float, float | None, str]] = []

        a = per_record(settings, read_lines(dataset, args.sample))
        rows.append(("(a) put_record, one at a time", args.sample, a, None, ""))
        print(f"(a) {a:,.0f} rec/s", flush=True)

        b = run_replay_child(settings, dataset, args.rows, **procs, **unlimited)
        b_rate = b["rows"] / (b["duration_s"] - b["startup_s"])
        rows.append(
            (
                "(b) replay, quotas lifted",
                b["rows"],
                b_rate,
                b["peak_mb"],
                f"{b['records_per_s']:,.0f} rec/s incl. {b['startup_s']:.1f} s start",
            )
        )
        print(f"(b) {b_rate:,.0f} rec/s", flush=True)

        q = run_replay_child(settings, dataset, args.rows, **procs)
        q_rate = q["rows"] / (q["duration_s"] - q["startup_s"])
        rows.append(
            (
                "(b') replay, default quota",
                q["rows"],
                q_rate,
                q["peak_mb"],
                f"{q['mib_per_s'] * q['duration_s'] / (q['duration_s'] - q['startup_s']):.2f}"
                " MiB/s (quota 5)",
            )
        )
        print(f"(b') {q_rate:,.0f} rec/s", flush=True)

        c = raw_ceiling(settings, read_lines(dataset, args.rows))
        rows.append(("(c) raw PutRecordBatch, 1 process", args.rows, c, None, "pre-built"))
        print(f"(c) {c:,.0f} rec/s", flush=True)

        d = run_replay_child(
            settings, dataset, args.null_rows, null_sink=True, **procs, **unlimited
        )
        d_rate = d["rows"] / (d["duration_s"] - d["startup_s"])
        rows.append(
            (
                "(d) replay into a null sink",
                d["rows"],
                d_rate,
                d["peak_mb"],
                f"{d['records_per_s']:,.0f} rec/s incl. {d['startup_s']:.1f} s start",
            )
        )
        print(f"(d) {d_rate:,.0f} rec/s", flush=True)

        if args.full:
            f = run_replay_child(settings, dataset, 1_300_000, **procs, **unlimited)
            f_rate = f["rows"] / (f["duration_s"] - f["startup_s"])
            rows.append(
                (
                    "(b) replay, quotas lifted, --full",
                    f["rows"],
                    f_rate,
                    f["peak_mb"],
                    f"{f['duration_s']:.0f} s",
                )
            )

        print()
        print(f"{'measurement':38} {'rows':>10} {'rec/s':>10} {'peak MB':>8}  note")
        for name, n, rate, mb, note in rows:
            print(f"{name:38} {n:>10,} {rate:>10,.0f} {(f'{mb:.0f}' if mb else '-'):>8}  {note}")
        print()
        print(f"b/a = {b_rate / a:,.1f}   (target >= 60)")
        print(f"b/c = {b_rate / c:.2f}   (target >= 0.8)")
        print(f"d   = {d_rate:,.0f} rec/s   (target >= 300,000)")
        print(
            "rates exclude worker start-up (shown in the note); peak MB = summed PSS of the "
            "replay's processes (target <= 300 and flat)"
        )
    finally:
        if args.stack == "embedded":
            from txviz_pipeline.stack import control

            control.down(work / "home")
        if server is not None:
            stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
