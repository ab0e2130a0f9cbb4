"""A checked chunk per block, in file order: the scan's fields when every row passes, the row
checks otherwise; with ``now``, the processor's rules too (:mod:`.screen`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from txviz_pipeline.ingest.csvsource.blocks import (
    DEFAULT_CHUNK_BYTES,
    LineBlock,
    line_blocks,
    map_in_order,
)
from txviz_pipeline.ingest.csvsource.header import require_sparkov_header
from txviz_pipeline.ingest.csvsource.rows import (
    FIELD_COUNT,
    ROW_SCHEMA,
    TEXT_SCHEMA,
    CheckedChunk,
    check_lines,
)
from txviz_pipeline.ingest.csvsource.scan import FieldSpans, scan_block
from txviz_pipeline.ingest.csvsource.screen import refuse


def iter_checked_chunks(
    path: str | os.PathLike[str],
    *,
    rows: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    workers: int | None = None,
    now: datetime | None = None,
) -> Iterator[CheckedChunk]:
    """Check a Sparkov CSV chunk by chunk, in file order; ``rows`` stops after N data lines.

    Without ``now``, the conversion's checks (is each line a row of the right types); with it
    (naive UTC), also the processor's rules at that time, each refusal a Reject.
    """
    require_sparkov_header(path)
    blocks = line_blocks(path, rows=rows, chunk_bytes=chunk_bytes)
    return map_in_order(partial(check_block, now=now), blocks, workers)


def check_block(block: LineBlock, now: datetime | None = None) -> CheckedChunk:
    """Parse and check a block of lines: typed good rows and a Reject for every other line
    (with ``now``, also for every row the processor would refuse)."""
    chunk = _check_block(block)
    return chunk if now is None else refuse(chunk, now)


def _check_block(block: LineBlock) -> CheckedChunk:
    spans = scan_block(block)
    if spans is None:
        return check_lines(block)
    text = spans_text(spans)
    typed = [
        pc.cast(text.column(i), kind) if kind != pa.string() else text.column(i)
        for i, kind in enumerate(ROW_SCHEMA.types)
    ]
    rows = pa.RecordBatch.from_arrays(typed, schema=ROW_SCHEMA)
    return CheckedChunk(text=text, rows=rows, lines=spans.line_numbers(), rejects=[])


def spans_text(spans: FieldSpans) -> pa.RecordBatch:
    """The fields as string columns (NDJSON names), copied out of the block."""
    n = spans.rows
    fields = np.ascontiguousarray(spans.fields)
    # The scan found the block to be UTF-8 already, so the pieces can be typed as text.
    pieces = pa.Array.from_buffers(
        pa.large_string(),
        len(fields) - 1,
        [None, pa.py_buffer(fields), pa.py_buffer(spans.block.buffer)],
    )
    by_column = 2 * np.arange(n * FIELD_COUNT).reshape(n, FIELD_COUNT).T.reshape(-1)
    text = pc.take(pieces, by_column, boundscheck=False)
    columns = [text.slice(k * n, n).cast(pa.string()) for k in range(FIELD_COUNT)]
    return pa.RecordBatch.from_arrays(columns, schema=TEXT_SCHEMA)
