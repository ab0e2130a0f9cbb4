"""The options of a replay, defined once: the Dagster launchpad (``ReplayConfig``), the
``txviz replay`` flags and ``replay()`` all read these fields, their types, defaults,
descriptions and ranges."""

from __future__ import annotations

import argparse
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from txviz_pipeline.ingest.replay.checkpoint import validate_replay_id
from txviz_pipeline.ingest.replay.parts import MAX_PARTS
from txviz_pipeline.ingest.replay.plan import MAX_BATCH_RECORDS
from txviz_pipeline.ingest.replay.ratelimit import (
    DEFAULT_BYTES_PER_S,
    DEFAULT_RECORDS_PER_S,
    DEFAULT_REQUESTS_PER_S,
    Limits,
)

MAX_PROCESSES = 64
# Event time is held in timedeltas, which end near 1e14 s: a billion-fold compression
# (thirty years a second) times the longest lead stays far inside them.
MAX_SPEED = 1e9
# Longest timer an option may set; a longer sleep is a hang, not a setting.
MAX_WAIT_S = 3600.0


class ReplayOptions(BaseModel):
    """What to replay and how fast. Rates default to one us-east-1 stream's Direct PUT quota."""

    # No field takes inf or NaN: NaN compares false with every bound, inf overflows timers.
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    rows: int | None = Field(
        default=None, ge=0, description="Replay only the first N rows (empty: every row)."
    )
    processes: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PROCESSES,
        description="Worker processes, each with its own client (empty: one a core).",
    )
    speed: float | None = Field(
        default=None,
        ge=0,
        le=MAX_SPEED,
        description="Time compression against trans_date_trans_time: 3600 replays an hour of "
        "transactions a second (at most 1e9). Empty or 0: as fast as the stream allows.",
    )
    max_records_per_s: float | None = Field(
        default=DEFAULT_RECORDS_PER_S,
        ge=0,
        description="Rate limit in records/s (Firehose Direct PUT quota; empty or 0: none).",
    )
    max_bytes_per_s: float | None = Field(
        default=DEFAULT_BYTES_PER_S,
        ge=0,
        description="Rate limit in bytes/s (5 MiB/s stream quota; empty or 0: none).",
    )
    max_requests_per_s: float | None = Field(
        default=DEFAULT_REQUESTS_PER_S,
        ge=0,
        description="Rate limit in PutRecordBatch calls/s (stream quota; empty or 0: none).",
    )
    replay_id: str | None = Field(
        default=None,
        description="Name of this replay; re-running with the same name resumes from its "
        "checkpoint (empty: a new name).",
    )
    parts: int = Field(
        default=1,
        ge=1,
        le=MAX_PARTS,
        description="Split the replay into this many row ranges, each sent by its own run "
        "with an equal share of its stream's quota (at most 64).",
    )
    part: int | None = Field(
        default=None,
        ge=1,
        le=MAX_PARTS,
        description="With parts: the one part (1..parts) this run sends, as replay "
        "<replay_id>.part-<part>-of-<parts>. Empty: every part, each in its own run.",
    )
    resume: bool = Field(default=True, description="Continue from the replay's checkpoint.")
    resend_dead_letters: str | None = Field(
        default=None,
        description="Instead of replaying: resend the dead letters of this replay id (the rows "
        "Firehose refused), from the dataset that replay used, under the same id.",
    )
    checkpoint_store: Literal["auto", "local", "s3"] = Field(
        default="auto",
        description="Where the checkpoint lives: 'local' (the checkpoint folder) or 's3' "
        "(replays/<replay_id>/ in the bucket, for machines without state); 'auto': s3 on AWS, "
        "local on the embedded stack (TXVIZ_STATE_STORE overrides).",
    )
    max_attempts: int = Field(
        default=8, ge=1, description="Attempts per record, the first send included."
    )
    max_batch_records: int = Field(
        default=MAX_BATCH_RECORDS,
        ge=1,
        le=MAX_BATCH_RECORDS,
        description="Records per PutRecordBatch call (at most 500).",
    )
    max_lead_s: float = Field(
        default=0.2,
        gt=0,
        le=MAX_WAIT_S,
        description="With a speed: how many seconds early a record may leave before it is due.",
    )
    backoff_base_s: float = Field(
        default=0.1,
        ge=0,
        le=MAX_WAIT_S,
        description="First retry waits up to this long (full jitter).",
    )
    backoff_cap_s: float = Field(
        default=10.0, ge=0, le=MAX_WAIT_S, description="Longest wait between two attempts."
    )
    checkpoint_every_s: float = Field(
        default=1.0, gt=0, le=MAX_WAIT_S, description="Seconds between two checkpoint saves."
    )
    progress_every_s: float = Field(
        default=2.0, gt=0, le=MAX_WAIT_S, description="Seconds between two progress reports."
    )

    @field_validator("speed")
    @classmethod
    def zero_speed_is_no_speed(cls, value: float | None) -> float | None:
        return value or None

    @field_validator("replay_id", "resend_dead_letters")
    @classmethod
    def replay_id_is_a_name(cls, value: str | None) -> str | None:
        return validate_replay_id(value) if value else None

    @model_validator(mode="after")
    def part_is_one_of_the_parts(self) -> ReplayOptions:
        if self.part is not None and self.part > self.parts:
            raise ValueError(f"part {self.part} is not one of 1..{self.parts}")
        return self

    def limits(self) -> Limits:
        return Limits(self.max_records_per_s, self.max_bytes_per_s, self.max_requests_per_s)

    def named(self, default_replay_id: str) -> ReplayOptions:
        """These options as plain ``ReplayOptions``, named ``default_replay_id`` if unnamed."""
        values = {name: getattr(self, name) for name in ReplayOptions.model_fields}
        return ReplayOptions(**{**values, "replay_id": self.replay_id or default_replay_id})


def add_cli_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per option, with the option's type, choices, description and default."""
    for name, info in ReplayOptions.model_fields.items():
        flag = "--" + name.replace("_", "-")
        default = "" if info.default is None else f" (default: {info.default})"
        help_text = f"{info.description}{default}".replace("%", "%%")
        kind = _value_type(info.annotation)
        if kind is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=help_text
            )
        elif get_origin(kind) is Literal:
            parser.add_argument(flag, choices=get_args(kind), default=None, help=help_text)
        else:
            parser.add_argument(flag, type=kind, default=None, metavar=name.upper(), help=help_text)


def options_from_cli(args: argparse.Namespace, default_replay_id: str) -> ReplayOptions:
    """The options given as flags (see ``add_cli_flags``); unset flags keep their defaults."""
    given = {name: getattr(args, name) for name in ReplayOptions.model_fields}
    return ReplayOptions(**{k: v for k, v in given.items() if v is not None}).named(
        default_replay_id
    )


def _value_type(annotation: Any) -> Any:
    """``int`` for ``int | None``; the annotation itself otherwise."""
    if get_origin(annotation) in (Union, types.UnionType):
        (inner,) = [a for a in get_args(annotation) if a is not type(None)]
        return inner
    return annotation
