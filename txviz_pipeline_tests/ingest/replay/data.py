"""Small NDJSON datasets in ingest.convert's layout, and readers for what reached the landing
bucket, for the replay tests."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.schema import NDJSON_FIELDS, SOURCE_TIMESTAMP_FORMAT
from txviz_pipeline.settings import LANDING_PREFIX
from txviz_pipeline_tests.processor.builders import BASE_RECORD

START = datetime(2019, 1, 1, 0, 0, 18)
LANDING = LANDING_PREFIX


def record(row_id: int, event_time: datetime, **overrides: Any) -> dict[str, Any]:
    """One NDJSON record with every field of schema.NDJSON_FIELDS, in order."""
    values = {
        **BASE_RECORD,
        "row_id": row_id,
        "trans_date_trans_time": event_time.strftime(SOURCE_TIMESTAMP_FORMAT),
        "trans_num": f"{row_id:032x}",
        "unix_time": 1325376018 + row_id,
    }
    values.update(overrides)
    return {k: values[k] for k in NDJSON_FIELDS}


def write_dataset(
    directory: Path,
    rows: int,
    *,
    parts: int = 1,
    step_s: float = 1.0,
    first_row_id: int = 0,
    lines: list[bytes] | None = None,
) -> Path:
    """Write ``rows`` records (or the given raw ``lines``) as a dataset of ``parts`` parts."""
    directory.mkdir(parents=True, exist_ok=True)
    if lines is None:
        lines = [
            json.dumps(record(first_row_id + i, START + timedelta(seconds=i * step_s))).encode()
            + b"\n"
            for i in range(rows)
        ]
    per_part = -(-len(lines) // parts) if lines else 0
    entries = []
    for p in range(parts):
        chunk = lines[p * per_part : (p + 1) * per_part]
        name = f"part-{p:05d}.ndjson"
        (directory / name).write_bytes(b"".join(chunk))
        entries.append(
            {
                "name": name,
                "rows": len(chunk),
                "bytes": sum(map(len, chunk)),
                "first_row_id": first_row_id + p * per_part,
            }
        )
    manifest = {
        "source": "synthetic.csv",
        "rows": len(lines),
        "bytes": sum(map(len, lines)),
        "rejected": 0,
        "rejects": "rejects.ndjson",
        "first_event_time": START.strftime(SOURCE_TIMESTAMP_FORMAT),
        "last_event_time": (START + timedelta(seconds=(len(lines) - 1) * step_s)).strftime(
            SOURCE_TIMESTAMP_FORMAT
        ),
        "parts": entries,
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


def create_stream(settings, prefix: str = LANDING) -> None:
    """The bucket and a plain delivery stream (ExtendedS3, no processor)."""
    from txviz_pipeline_tests.support.moto import create_plain_stream

    create_plain_stream(settings, prefix)


def landed_row_ids(settings, prefix: str = LANDING) -> Counter[int]:
    """How many times each row_id reached the bucket under ``prefix``."""
    from txviz_pipeline import aws

    s3 = aws.client("s3", settings)
    seen: Counter[int] = Counter()
    for key in iter_keys(s3, settings.bucket, prefix):
        body = s3.get_object(Bucket=settings.bucket, Key=key)["Body"].read()
        assert body.endswith(b"\n"), f"{key} does not end in a newline"
        for line in body.splitlines():
            seen[json.loads(line)["row_id"]] += 1
    return seen


def dataset_lines(path: Path) -> list[bytes]:
    """Every line of a dataset, in order, as the replay reads them."""
    manifest = json.loads((path / "manifest.json").read_text())
    return [
        line
        for part in manifest["parts"]
        for line in (path / part["name"]).read_bytes().splitlines(keepends=True)
    ]
