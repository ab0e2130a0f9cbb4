"""CSV -> NDJSON -> Firehose: the replay that feeds the pipeline, launched from the launchpad."""

from pathlib import Path

import dagster as dg
from pydantic import Field

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

    settings = aws.settings()
    source = resolve_source(config.source_csv, settings.data_folders)
    out_dir = settings.ndjson_dir / source.stem
    result = convert_csv_to_ndjson(source, out_dir)
    context.log.info(
        "converted %s: %d rows, %d rejected -> %s",
        source,
        result.rows_out,
        result.rejected,
        out_dir,
    )
    return dg.Output(
        {"dataset_dir": str(out_dir), "source": str(source), "rows": result.rows_out},
        metadata={
            "source": dg.MetadataValue.path(str(source)),
            "dataset_dir": dg.MetadataValue.path(str(out_dir)),
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
    """The NDJSON replayed into the Firehose delivery stream with PutRecordBatch."""
    from txviz_pipeline.ingest.replay.api import replay

    # An unnamed replay takes the run's id, so the run and its checkpoint share one name.
    options = config.named(context.run.run_id)

    def log_progress(p) -> None:
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        context.log.info(
            f"replay {p.rows_done:,}/{p.rows_total:,} rows, {p.records_per_s:,.0f} rec/s, "
            f"{p.mib_per_s:.2f} MiB/s, retried {p.retried}, failed {p.failed}, ETA {eta}"
        )

    result = replay(Path(transactions_ndjson["dataset_dir"]), aws.settings(), options, log_progress)
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
            "records_per_s": round(result.records_per_s, 1),
            "mib_per_s": round(result.mib_per_s, 3),
            "duration_s": round(result.duration_s, 3),
            "resumed_from_row": result.resumed_from_row,
        }
    )
