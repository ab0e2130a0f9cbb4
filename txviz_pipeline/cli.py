"""The ``txviz`` command: the embedded stack, data, replay and the whole demo outside the UI."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from pathlib import Path

from txviz_pipeline.private_files import PRIVATE_UMASK
from txviz_pipeline.settings import (
    DAGSTER_PORT_ENV,
    DASHBOARD_PORT_ENV,
    DEFAULT_REGION,
    MODE_ENV,
    MOTO_PORT_ENV,
    Settings,
)

log = logging.getLogger("txviz")


def main(argv: list[str] | None = None) -> int:
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"txviz: error: {exc}", file=sys.stderr)
        return 2
    args = build_parser(settings).parse_args(argv)
    os.umask(PRIVATE_UMASK)  # what txviz and the servers it starts write is the user's alone
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("botocore").setLevel(logging.WARNING)
    from txviz_pipeline.processes import Stopped

    try:
        return args.func(settings, args) or 0
    except Stopped as stop:
        print(f"txviz: stopped by {stop}; everything it started is stopped", file=sys.stderr)
        return stop.exit_status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line for the user, not a traceback
        from txviz_pipeline.schema import SchemaError

        if isinstance(exc, SchemaError | OSError | ValueError) or _is_stack_error(exc):
            print(f"txviz: error: {_one_line(exc)}", file=sys.stderr)
            return 2
        raise


MAX_ERROR_CHARS = 300


def _one_line(exc: Exception) -> str:
    """``exc`` as one short line: a bad option names its flag, nothing runs past the cap."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        text = "; ".join(
            "--"
            + "-".join(str(part) for part in error["loc"]).replace("_", "-")
            + f": {error['msg']}"
            for error in exc.errors()
        )
    else:
        text = " ".join(str(exc).split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _is_stack_error(exc: Exception) -> bool:
    return type(exc).__name__ == "StackError"


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    """The command line; port defaults come from ``settings`` (the TXVIZ_*_PORT variables)."""
    parser = argparse.ArgumentParser(prog="txviz", description=__doc__)
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    stack = sub.add_parser("stack", help="the embedded AWS stack (moto server on 127.0.0.1)")
    stack_sub = stack.add_subparsers(required=True, metavar="ACTION")
    up = stack_sub.add_parser("up", help="start moto server and provision txviz's resources")
    up.add_argument("--port", type=int, default=settings.moto_port, help=f"${MOTO_PORT_ENV}")
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

    model = sub.add_parser(
        "train-model",
        help="train the fraud model the processor ships with (lambda/fraud_model.json)",
    )
    model.add_argument("--csv", type=Path, help="a Sparkov CSV (default: generate --rows)")
    model.add_argument("--rows", type=int, help="rows to generate (default 1,200,000)")
    model.add_argument("--seed", type=int, help="generator seed (default 7)")
    model.add_argument("-o", "--output", type=Path, help="default: lambda/fraud_model.json")
    model.set_defaults(func=cmd_train_model)

    val = sub.add_parser("validate", help="check a CSV against the Sparkov schema and report")
    val.add_argument("path", type=Path)
    val.set_defaults(func=cmd_validate)

    rep = sub.add_parser(
        "replay",
        help="convert a CSV and replay it into Firehose",
        description="Exit status: 0 every row accepted, 1 stopped (Firehose unreachable or an "
        "error; resumable), 2 bad input, 3 finished with dead letters (resend them with "
        "--resend-dead-letters).",
    )
    rep.add_argument("path", type=Path, nargs="?", help="a Sparkov CSV")
    from txviz_pipeline.ingest.replay.options import add_cli_flags

    add_cli_flags(rep)
    rep.set_defaults(func=cmd_replay)

    dash = sub.add_parser("dashboard", help="serve the local dashboard on 127.0.0.1")
    dash.add_argument(
        "--port", type=int, default=settings.dashboard_port, help=f"${DASHBOARD_PORT_ENV}"
    )
    dash.set_defaults(func=cmd_dashboard)

    demo = sub.add_parser(
        "demo", help="embedded stack + Dagster UI + dashboard, and replay the sample"
    )
    demo.add_argument("--csv", default="data/sample.csv", help="CSV to replay")
    demo.add_argument("--moto-port", type=int, default=settings.moto_port, help=f"${MOTO_PORT_ENV}")
    demo.add_argument(
        "--dagster-port", type=int, default=settings.dagster_port, help=f"${DAGSTER_PORT_ENV}"
    )
    demo.add_argument(
        "--dashboard-port",
        type=int,
        default=settings.dashboard_port,
        help=f"${DASHBOARD_PORT_ENV}",
    )
    demo.add_argument("--speed", type=float, help="time compression for the replay")
    demo.add_argument("--no-replay", action="store_true", help="don't start a replay")
    demo.add_argument(
        "--exit-when-ready",
        action="store_true",
        help="stop once the dashboard shows data (for timing the demo)",
    )
    demo.add_argument(
        "--timings", action="store_true", help="print the seconds to each step of the start"
    )
    demo.add_argument(
        "--sequential",
        action="store_true",
        help="start in the former order (stack, then servers, replay once Dagster has loaded)",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _embedded_settings(settings: Settings) -> Settings:
    """Settings for commands that talk to AWS: the running embedded stack unless AWS is set."""
    if settings.endpoint_url or settings.mode == "aws":
        return settings
    from txviz_pipeline.stack import control

    state = control.status(settings.home, counts=False)
    if not state.running:
        raise control.StackError(
            "the embedded stack is not running: start it with `txviz stack up` "
            f"(or set {MODE_ENV}=aws to use real AWS)"
        )
    # The stack was provisioned in embedded_env's region, whatever AWS_REGION says.
    return dataclasses.replace(settings, endpoint_url=state.endpoint_url, region=DEFAULT_REGION)


def cmd_stack_up(settings: Settings, args) -> int:
    from txviz_pipeline.stack import control

    info = control.up(port=args.port, settings=settings)
    print(f"embedded AWS running at {info.endpoint_url}")
    print("to use it from a shell:")
    for key, value in info.env.items():
        print(f"  export {key}={value}")
    return 0


def cmd_stack_down(settings: Settings, args) -> int:
    from txviz_pipeline.stack import control

    stopped = control.down(settings.home)
    print("embedded AWS stopped" if stopped else "embedded AWS was not running")
    return 0


def cmd_stack_status(settings: Settings, args) -> int:
    from txviz_pipeline.stack import control

    state = control.status(settings.home)
    if not state.running:
        print(f"embedded AWS is not running (home {state.home})")
        return 1
    print(f"embedded AWS running at {state.endpoint_url} (pid {state.pid})")
    print(f"  started at {state.started_at}")
    print(
        f"  landing objects: {state.landing_objects}, quarantine objects: "
        f"{state.quarantine_objects}, error objects: {state.error_objects}"
    )
    for stream, counts in (state.processor_stats or {}).items():
        print(f"  processor {stream}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return 0


def cmd_generate(settings: Settings, args) -> int:
    from txviz_pipeline.generator.sparkov import generate_csv

    summary = generate_csv(args.output, rows=args.rows, seed=args.seed)
    print(
        f"wrote {summary.rows:,} rows ({summary.fraud_rows:,} fraud, {summary.cards:,} cards, "
        f"{summary.merchants:,} merchants) to {args.output}"
    )
    return 0


def cmd_train_model(settings: Settings, args) -> int:
    from txviz_pipeline.fraud.bundle import DEFAULT_ROWS, DEFAULT_SEED, train_bundled
    from txviz_pipeline.fraud.registry import BUNDLED_MODEL

    out = args.output or BUNDLED_MODEL
    rows, seed = args.rows or DEFAULT_ROWS, args.seed if args.seed is not None else DEFAULT_SEED
    trained, document = train_bundled(args.csv, out, rows=rows, seed=seed)
    v = trained.validation
    print(
        f"model {document['version']}: {trained.booster.num_trees()} trees on "
        f"{trained.train_rows:,} rows; validation ({v.rows:,} rows, {v.frauds:,} fraud): "
        f"ROC-AUC {v.roc_auc:.4f}, PR-AUC {v.pr_auc:.4f}, at threshold {v.threshold:.4f} "
        f"precision {v.precision:.3f} recall {v.recall:.3f}; wrote {out} "
        f"({out.stat().st_size:,} bytes)"
    )
    return 0


def cmd_validate(settings: Settings, args) -> int:
    from txviz_pipeline.ingest.csvsource.allocator import keep_freed_memory
    from txviz_pipeline.ingest.csvsource.validate import format_report, validate_csv

    keep_freed_memory()  # the command's own process, so the allocator may be tuned for it
    report = validate_csv(args.path)
    print(format_report(report))
    return 0 if report.malformed_rows == 0 else 1


def cmd_replay(settings: Settings, args) -> int:
    from txviz_pipeline.ingest.replay.command import options_of, run_replay
    from txviz_pipeline.processes import stop_on_signals

    options = options_of(args)  # before any work: a bad option changes nothing
    settings = _embedded_settings(settings)
    with stop_on_signals():
        return run_replay(settings, args.path, options)


def cmd_dashboard(settings: Settings, args) -> int:
    from txviz_pipeline.processes import stop_on_signals
    from txviz_pipeline.serving.dashboard.launch import serve_dashboard

    with stop_on_signals():
        return serve_dashboard(settings, args.port)


def cmd_demo(settings: Settings, args) -> int:
    from txviz_pipeline.demo import run_demo
    from txviz_pipeline.processes import stop_on_signals

    with stop_on_signals():
        return run_demo(
            settings,
            csv=args.csv,
            moto_port=args.moto_port,
            dagster_port=args.dagster_port,
            dashboard_port=args.dashboard_port,
            speed=args.speed,
            replay=not args.no_replay,
            exit_when_ready=args.exit_when_ready,
            timings=args.timings,
            sequential=args.sequential,
        )


if __name__ == "__main__":
    sys.exit(main())
