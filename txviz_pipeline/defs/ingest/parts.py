"""A replay in parts from the launchpad: one run plans it, then one run per part sends it.

``replay_in_parts_job`` converts the CSV and materializes ``replay_parts_plan`` (the replay's
options with ``parts: N``: which rows, stream and share of the quota each part gets). When that
run succeeds, ``replay_parts_sensor`` requests N ``replay_part_job`` runs, each materializing
``firehose_replay`` for one part with the same options and ``part: i``. The runs share nothing
but the dataset and the streams, so the run launcher may put each on its own machine (one ECS
task per run with ``EcsRunLauncher``); each part's ``replay_reconciles`` checks its own rows.
A failed part is launched again from its run (same config: it resumes from its checkpoint).
"""

from typing import Any

import dagster as dg

from txviz_pipeline.defs.ingest.assets import ReplayConfig, firehose_replay, transactions_ndjson
from txviz_pipeline.defs.resources import AwsResource
from txviz_pipeline.ingest.replay.parts import Part, part_replay_id

PLAN_OP = "replay_parts_plan"


@dg.asset(name=PLAN_OP, group_name="ingest", kinds={"firehose"})
def replay_parts_plan(
    context: dg.AssetExecutionContext,
    config: ReplayConfig,
    aws: AwsResource,
    transactions_ndjson: dict,
) -> dg.MaterializeResult:
    """How a replay in parts splits: rows, stream and share of the quota per part. Its run's
    success makes replay_parts_sensor launch one replay_part_job run per part."""
    if config.parts < 2 or config.part is not None:
        raise dg.Failure(
            "a replay in parts needs parts: 2 or more, and no part (each run gets one)"
        )
    if config.resend_dead_letters:
        raise dg.Failure("resend a part's dead letters from replay_transactions_job, by its name")
    settings = aws.settings()
    base = config.replay_id or context.run.run_id
    total = transactions_ndjson["rows"] if config.rows is None else config.rows
    total = min(total, transactions_ndjson["rows"])
    lines = []
    for number in range(1, config.parts + 1):
        part = Part.of(number, config.parts, config.limits(), settings)
        first, end = part.rows(total)
        lines.append(
            f"| {number} | {part_replay_id(base, number, config.parts)} | {first:,}..{end:,} "
            f"| {part.stream} | {part.limits.bytes_per_s or 'unlimited'} |"
        )
    table = "| part | replay id | rows | stream | bytes/s |\n|---|---|---|---|---|\n"
    return dg.MaterializeResult(
        metadata={
            "replay_id": base,
            "parts": config.parts,
            "rows": total,
            "streams": ", ".join(settings.delivery_streams),
            "plan": dg.MetadataValue.md(table + "\n".join(lines)),
        }
    )


replay_in_parts_job = dg.define_asset_job(
    "replay_in_parts_job",
    selection=[transactions_ndjson, replay_parts_plan],
    executor_def=dg.in_process_executor,
    description="Convert a Sparkov CSV and replay it in N parts, one run per part "
    "(replay_parts_plan's config: the replay's options with parts: N).",
)

replay_part_job = dg.define_asset_job(
    "replay_part_job",
    selection=[firehose_replay],
    executor_def=dg.in_process_executor,
    description="One part of a replay in parts (launched by replay_parts_sensor).",
)


def part_run_requests(run_id: str, run_config: dict[str, Any]) -> list[dg.RunRequest]:
    """One ``replay_part_job`` run per part of the plan a ``replay_in_parts_job`` run made."""
    raw = dict(run_config.get("ops", {}).get(PLAN_OP, {}).get("config") or {})
    options = ReplayConfig(**raw)
    base = options.replay_id or run_id  # as replay_parts_plan named it
    requests = []
    for number in range(1, options.parts + 1):
        name = part_replay_id(base, number, options.parts)
        config = {**raw, "replay_id": base, "part": number}
        requests.append(
            dg.RunRequest(
                run_key=name,  # one run per part, however often the sensor sees the plan
                run_config={"ops": {firehose_replay.op.name: {"config": config}}},
                tags={"txviz/replay_id": base, "txviz/part": f"{number}/{options.parts}"},
            )
        )
    return requests


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    monitored_jobs=[replay_in_parts_job],
    request_job=replay_part_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="After a replay_in_parts_job run: one replay_part_job run per part.",
)
def replay_parts_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    return part_run_requests(run.run_id, run.run_config)
