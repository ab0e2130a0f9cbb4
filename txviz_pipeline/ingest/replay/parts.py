"""A replay in parts: row ranges sent by independent runs, sharing streams and their quotas.

Part ``i`` of ``N`` (1-based) sends dataset rows ``[floor((i-1) R / N), floor(i R / N))`` of
the ``R`` rows the replay covers, so the parts cover every row exactly once. Each part is a
replay of its own, named ``<replay_id>.part-<i>-of-<N>``: its own checkpoint (resume one part
without touching the others), its own dead letters (resend them by that name) and its own
manifest and reconciliation, on its own rows. The parts share no memory, so they may run on
different machines (one ECS task per Dagster run on AWS).

With several delivery streams (``TXVIZ_SHARD_STREAMS``) part ``i`` sends to stream
``(i - 1) mod S``: a replay that needs more than one stream's quota shards over streams, all
feeding the same processor and bucket. Each part's limiter gets its stream's quota divided by
the number of parts on that stream, so the parts on a stream together stay within its quota.
"""

from __future__ import annotations

from dataclasses import dataclass

from txviz_pipeline.ingest.replay.checkpoint import validate_replay_id
from txviz_pipeline.ingest.replay.ratelimit import Limits
from txviz_pipeline.settings import Settings

MAX_PARTS = 64
# A part cuts its calls small enough for this many a second within its byte share.
CALLS_PER_SECOND = 10


@dataclass(frozen=True)
class Part:
    """Which rows a run sends, to which stream, at what rate: 1 of 1 for a whole replay."""

    number: int
    parts: int
    stream: str
    limits: Limits

    @classmethod
    def of(cls, number: int | None, parts: int, limits: Limits, settings: Settings) -> Part:
        if number is None:
            if parts != 1:
                raise ValueError(
                    f"a replay in {parts} parts runs one part at a time: give part 1..{parts}"
                )
            number = 1
        if not 1 <= number <= parts:
            raise ValueError(f"part {number} is not one of 1..{parts}")
        streams = settings.delivery_streams
        slot = (number - 1) % len(streams)
        sharing = len(range(slot, parts, len(streams)))
        return cls(number, parts, streams[slot], limits.share(sharing))

    def batch_records(self, max_records: int, record_bytes: float) -> int:
        """Records per call for a part: a tenth of its byte share at most. The limiter admits
        whole calls into each metered second, so calls near a part's share would leave most
        of it unused (one 250 KB call fits four times into 1.25 MiB/s, not five)."""
        share = self.limits.bytes_per_s
        if self.parts == 1 or not share or record_bytes <= 0:
            return max_records
        return max(1, min(max_records, int(share / CALLS_PER_SECOND / record_bytes)))

    def rows(self, total: int) -> tuple[int, int]:
        """This part's dataset rows [first, end) of the first ``total`` rows."""
        return part_rows(total, self.number, self.parts)

    def replay_id(self, base: str) -> str:
        """The part's own replay id; a whole replay keeps ``base``."""
        if self.parts == 1:
            return base
        return validate_replay_id(part_replay_id(base, self.number, self.parts))


def part_rows(total: int, number: int, parts: int) -> tuple[int, int]:
    return (number - 1) * total // parts, number * total // parts


def part_replay_id(base: str, number: int, parts: int) -> str:
    return f"{base}.part-{number}-of-{parts}"
