"""The ``txviz`` command: the embedded stack, data, replay and the whole demo outside the UI."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from txviz_pipeline.settings import (
    DEFAULT_DAGSTER_PORT,
    DEFAULT_DASHBOARD_PORT,
    DEFAULT_MOTO_PORT,
    LOCALHOST,
    Settings,
    embedded_env,
)

log = logging.getLogger("txviz")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for the user, not a traceback
        from txviz_pipeline.schema import SchemaError

        if isinstance(exc, SchemaError | FileNotFoundError | ValueError) or _is_stack_error(exc):
            print(f"txviz: error: {exc}", file=sys.stderr)
            return 2
        raise


def _is_stack_error(exc: Exception) -> bool:
    return type(exc).__name__ == "StackError"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="txviz", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="the embedded AWS stack (moto server on 127.0.0.1)")
    stack_sub = stack.add_subparsers(required=True, metavar="ACTION")
    up = stack_sub.add_parser("up", help="start moto server and provision txviz's resources")
    up.add_argument("--port", type=int, default=_env_int("TXVIZ_MOTO_PORT", DEFAULT_MOTO_PORT))
    up.set_defaults(func=cmd_stack_up)
    stack_sub.add_parser("down", help="stop the embedded stack").set_defaults(func=cmd_stack_down)
    stack_sub.add_parser("status", help="is it running, and what landed").set_defaults(
        func=cmd_stack_status
    )

    gen = sub.add_parser("generate", help="write a Sparkov-format CSV")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("-o", "--output", type=Path, required=True)
    gen.set_defaults(func=cmd_generate)

    val = sub.add_parser("validate", help="check a CSV against the Sparkov schema and report")
    val.add_argument("path", type=Path)
    val.set_defaults(func=cmd_validate)

    rep = sub.add_parser("replay", help="convert a CSV and replay it into Firehose")
    rep.add_argument("path", type=Path, help="a Sparkov CSV")
    from txviz_pipeline.ingest.replay.options import add_cli_flags

    add_cli_flags(rep)
    rep.set_defaults(func=cmd_replay)

    dash = sub.add_parser("dashboard", help="serve the local dashboard on 127.0.0.1")
    dash.add_argument("--port", type=int, default=DEFAULT_DASHBOARD_PORT)
    dash.set_defaults(func=cmd_dashboard)

    demo = sub.add_parser(
        "demo", help="embedded stack + Dagster UI + dashboard, and replay the sample"
    )
    demo.add_argument("--csv", default="data/sample.csv", help="CSV to replay")
    demo.add_argument("--moto-port", type=int, default=DEFAULT_MOTO_PORT)
    demo.add_argument("--dagster-port", type=int, default=DEFAULT_DAGSTER_PORT)
    demo.add_argument("--dashboard-port", type=int, default=DEFAULT_DASHBOARD_PORT)
    demo.add_argument("--speed", type=float, help="time compression for the replay")
    demo.add_argument("--no-replay", action="store_true", help="don't start a replay")
    demo.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="stop once the dashboard shows data (for timing the demo)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _embedded_settings() -> Settings:
    """Settings for commands that talk to AWS: the running embedded stack unless AWS is set."""
    settings = Settings.from_env()
    if settings.endpoint_url or os.environ.get("TXVIZ_MODE") == "aws":
        return settings
    from txviz_pipeline.stack import control

    state = control.status(settings.home, counts=False)
    if not state.running:
        raise RuntimeError(
            "the embedded stack is not running: start it with `txviz stack up` "
            "(or set TXVIZ_MODE=aws to use real AWS)"
        )
    os.environ.update(embedded_env(state.port, settings.home))
    return Settings.from_env()


def cmd_stack_up(args) -> int:
    from txviz_pipeline.stack import control

    info = control.up(port=args.port, home=Settings.from_env().home)
    print(f"embedded AWS running at {info.endpoint_url}")
    print("to use it from a shell:")
    for key, value in info.env.items():
        print(f"  export {key}={value}")
    return 0


def cmd_stack_down(args) -> int:
    from txviz_pipeline.stack import control

    stopped = control.down(Settings.from_env().home)
    print("embedded AWS stopped" if stopped else "embedded AWS was not running")
    return 0


def cmd_stack_status(args) -> int:
    from txviz_pipeline.stack import control

    state = control.status(Settings.from_env().home)
    if not state.running:
        print(f"embedded AWS is not running (home {state.home})")
        return 1
    print(f"embedded AWS running at {state.endpoint_url} (pid {state.pid})")
    print(f"  started at {state.started_at}")
    print(f"  landing objects: {state.landing_objects}, error objects: {state.error_objects}")
    for stream, counts in (state.processor_stats or {}).items():
        print(f"  processor {stream}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def cmd_generate(args) -> int:
    from txviz_pipeline.ingest.sparkov import generate_csv

    summary = generate_csv(args.output, rows=args.rows, seed=args.seed)
    print(
        f"wrote {summary.rows:,} rows ({summary.fraud_rows:,} fraud, {summary.cards:,} cards, "
        f"{summary.merchants:,} merchants) to {args.output}"
    )
    return 0


def cmd_validate(args) -> int:
    from txviz_pipeline.ingest.csvsource import format_report, validate_csv

    report = validate_csv(args.path)
    print(format_report(report))
    return 0 if report.malformed_rows == 0 else 1


def cmd_replay(args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
    from txviz_pipeline.ingest.replay.api import replay
    from txviz_pipeline.ingest.replay.options import options_from_cli

    options = options_from_cli(args, f"{args.path.stem}-{time.strftime('%Y%m%dT%H%M%S')}")
    settings = _embedded_settings()
    dataset = settings.ndjson_dir / args.path.stem
    conversion = convert_csv_to_ndjson(args.path, dataset)
    print(f"converted {conversion.rows_out:,} rows ({conversion.rejected:,} rejected) to {dataset}")
    columns = [
        TextColumn("replay"),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f} rows {task.fields[rate]}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns) as bar:
        task = bar.add_task("replay", total=args.rows or conversion.rows_out, rate="")

        def on_progress(p) -> None:
            rate = f"{p.records_per_s:,.0f} rec/s {p.mib_per_s:.2f} MiB/s"
            bar.update(task, completed=p.rows_done, total=p.rows_total, rate=rate)

        result = replay(dataset, settings, options, on_progress)
        bar.update(task, completed=result.rows)
    print(
        f"replay {result.replay_id}: {result.rows:,} rows in {result.duration_s:.1f}s "
        f"({result.records_per_s:,.0f} rec/s, {result.mib_per_s:.2f} MiB/s), "
        f"{result.retried:,} retried, {result.failed:,} dead-lettered"
    )
    return 0 if result.failed == 0 else 1


def cmd_dashboard(args) -> int:
    from txviz_pipeline.serving.dashboard.launch import start_dashboard, wait_until_ready

    settings = Settings.from_env()
    proc = start_dashboard(settings, args.port)
    try:
        wait_until_ready(f"http://{LOCALHOST}:{args.port}")
        print(f"dashboard: http://{LOCALHOST}:{args.port}")
        return proc.wait()
    finally:
        from txviz_pipeline.processes import stop_group

        stop_group(proc.pid)


def cmd_demo(args) -> int:
    from txviz_pipeline.demo import run_demo

    return run_demo(
        csv=args.csv,
        moto_port=args.moto_port,
        dagster_port=args.dagster_port,
        dashboard_port=args.dashboard_port,
        speed=args.speed,
        replay=not args.no_replay,
        exit_when_ready=args.exit_when_ready,
    )


if __name__ == "__main__":
    sys.exit(main())
