"""CSV -> NDJSON -> Firehose: the replay that feeds the pipeline, launched from the launchpad."""

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, ValidationError

from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.ingest.replay.options import ReplayOptions
from txviz_pipeline.settings import REPO_ROOT

sparkov_csv = dg.AssetSpec(
    "sparkov_csv",
    description="Card transactions in the Kaggle Sparkov fraudTrain.csv format, under data/.",
    group_name="ingest",
    kinds={"csv"},
)


class ConvertConfig(dg.Config):
    source_csv: str = Field(
        default="data/sample.csv",
        description=(
            "CSV in the Sparkov format to replay; relative paths are from the repo root. It must "
            "lie in a data folder: the repo's data/ or TXVIZ_HOME unless TXVIZ_DATA_DIRS "
            "(os.pathsep-separated) names others."
        ),
    )


class ReplayConfig(dg.Config, ReplayOptions):
    """The launchpad form of a replay: the fields of ``ReplayOptions``, checked there."""


def check_replay_config(run_config: dict[str, Any]) -> None:
    """The run's ``firehose_replay`` options checked, a ``dg.Failure`` naming the bad ones.

    Dagster builds an op's config (and pydantic checks it) only when that op starts; a run
    that converts and then replays would have replaced the previous dataset before a bad
    replay option (speed NaN, processes 0) was seen. The conversion checks them first.
    """
    # replay_parts_plan (defs/ingest/parts.py) takes the same options for a replay in parts.
    for op in (firehose_replay.op.name, "replay_parts_plan"):
        raw = run_config.get("ops", {}).get(op, {}).get("config")
        if raw is None:
            continue
        try:
            ReplayConfig(**raw)
        except ValidationError as exc:
            bad = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise dg.Failure(f"{op} config refused, nothing converted or replayed: {bad}") from None


def resolve_source(source_csv: str, allowed: tuple[Path, ...]) -> Path:
    """``source_csv`` resolved (relative paths are from the repository root); a path outside the
    ``allowed`` folders is a ``dg.Failure`` before anything reads it."""
    # Someone on the web UI may have no shell here: the launchpad must not read just any file.
    path = Path(source_csv)
    path = (path if path.is_absolute() else REPO_ROOT / path).resolve()
    if not any(path.is_relative_to(folder) for folder in allowed):
        folders = ", ".join(str(f) for f in allowed)
        raise dg.Failure(
            f"source_csv must lie in a data folder ({folders}); set TXVIZ_DATA_DIRS to allow others"
        )
    return path


@dg.asset(deps=[sparkov_csv], group_name="ingest", kinds={"json"})
def transactions_ndjson(
    context: dg.AssetExecutionContext, config: ConvertConfig, aws: AwsResource
) -> dg.Output[dict]:
    """Sparkov CSV converted to NDJSON batches, schema-checked; bad rows routed to rejects."""
    from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
    from txviz_pipeline.ingest.staging import stage

    check_replay_config(context.run.run_config)
    settings = aws.settings()
    source = resolve_source(config.source_csv, settings.data_folders)
    out_dir = settings.ndjson_dir / source.stem
    result = convert_csv_to_ndjson(source, out_dir)
    # On AWS the replay may run on another machine: it finds the dataset in the bucket.
    staged = stage(aws.client("s3"), settings.bucket, out_dir) if settings.state_in_s3 else None
    context.log.info(
        "converted %s: %d rows, %d rejected -> %s",
        source,
        result.rows_out,
        result.rejected,
        staged or out_dir,
    )
    return dg.Output(
        {"dataset_dir": str(out_dir), "source": str(source), "rows": result.rows_out},
        metadata={
            "source": dg.MetadataValue.path(str(source)),
            "dataset_dir": dg.MetadataValue.path(str(out_dir)),
            "staged": dg.MetadataValue.url(staged) if staged else "local only",
            "rows": result.rows_out,
            "rejected": result.rejected,
            "bytes": result.bytes,
        },
    )


@dg.asset(group_name="ingest", kinds={"firehose"})
def firehose_replay(
    context: dg.AssetExecutionContext,
    config: ReplayConfig,
    aws: AwsResource,
    transactions_ndjson: dict,
) -> dg.MaterializeResult:
    """The NDJSON replayed into the Firehose delivery stream with PutRecordBatch (or, with
    ``resend_dead_letters``, a replay's dead letters resent)."""
    from txviz_pipeline.ingest.replay.api import ReplayError, ReplayStopped, replay
    from txviz_pipeline.ingest.replay.progress import WARNING_EVENTS
    from txviz_pipeline.ingest.staging import local_copy

    # An unnamed replay takes the run's id, so the run and its checkpoint share one name.
    options = config.named(context.run.run_id)
    events: list = []

    def on_event(event) -> None:
        events.append(event)
        log = context.log.warning if event.kind in WARNING_EVENTS else context.log.info
        log(f"replay {event.kind}: {event.message}")

    def log_progress(p) -> None:
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        state = p.describe() or f"{p.records_per_s:,.0f} rec/s, {p.mib_per_s:.2f} MiB/s"
        context.log.info(
            f"replay {p.rows_done:,}/{p.rows_total:,} rows, {state}, "
            f"retried {p.retried}, failed {p.failed}, ETA {eta}"
        )

    settings = aws.settings()
    try:
        if options.resend_dead_letters:
            return _resend(context, settings, options, on_event, events)
        result = replay(
            local_copy(transactions_ndjson["dataset_dir"], settings, aws.client("s3")),
            settings,
            options,
            log_progress,
            on_event=on_event,
        )
    except ReplayStopped as exc:
        line = exc.describe(f"launch again with replay_id {exc.replay_id} to resume")
        context.log.error(line)
        raise dg.Failure(
            description=line,
            metadata={
                "replay_id": exc.replay_id,
                "rows_done": exc.rows_done,
                "rows_total": exc.rows_total,
                "dead_lettered": exc.dead_lettered,
                "events": _events_table(events),
            },
        ) from None
    except ReplayError as exc:
        context.log.error(str(exc))
        raise dg.Failure(description=str(exc), metadata={"events": _events_table(events)}) from None
    if result.dead_lettered:
        context.log.warning(
            f"replay {result.replay_id} ended with {result.dead_lettered:,} rows in dead letters "
            f"({result.permanent:,} permanent in this run); resend them with "
            f"resend_dead_letters: {result.replay_id}"
        )
    return dg.MaterializeResult(
        metadata={
            "replay_id": result.replay_id,
            "dataset_dir": dg.MetadataValue.path(transactions_ndjson["dataset_dir"]),
            "rows_total": result.resumed_from_row + result.rows,
            "rows": result.rows,
            "bytes": result.bytes,
            "batches": result.batches,
            "sent": result.sent,
            "retried": result.retried,
            "failed": result.failed,
            "permanent": result.permanent,
            "dead_lettered": result.dead_lettered,
            "dead_letter_prefix": result.dead_letter_key or "none",
            "complete": result.complete,
            "records_per_s": round(result.records_per_s, 1),
            "mib_per_s": round(result.mib_per_s, 3),
            "duration_s": round(result.duration_s, 3),
            "started_at": result.started_at,
            "resumed_from_row": result.resumed_from_row,
            # A part of a replay in parts: its rows start here, and it sent to this stream.
            "first_row": result.first_row,
            "stream": result.stream,
            "events": _events_table(events),
        }
    )


def _resend(context, settings, options, on_event, events) -> dg.MaterializeResult:
    from txviz_pipeline.ingest.replay.resend import resend_dead_letters

    result = resend_dead_letters(settings, options, on_event=on_event)
    return dg.MaterializeResult(
        metadata={
            "replay_id": result.replay_id,
            "dataset_dir": dg.MetadataValue.path(result.dataset),
            "rows_total": result.rows,
            "resent": result.resent,
            "still_failing": result.still_failing,
            "permanent": result.permanent,
            "dead_lettered": result.remaining,
            "complete": result.complete,
            "duration_s": 0.0,
            "started_at": result.started_at,
            "events": _events_table(events),
        }
    )


def _events_table(events: list) -> dg.MetadataValue:
    rows = "\n".join(f"| {e.at} | {e.kind} | {e.message} |" for e in events)
    return dg.MetadataValue.md("| at (UTC) | event | detail |\n|---|---|---|\n" + rows)
