"""The NDJSON dataset as a handoff between machines: staged in S3 on AWS, local when embedded.

On AWS each Dagster run may be its own ECS task, with its own disk, so the dataset a conversion
writes must outlive the machine. ``stage`` uploads it to
``s3://<bucket>/staging/ndjson/<dataset>/``: the parts first and ``manifest.json`` last, so a
manifest in S3 always names parts that are all there. ``local_copy`` gives a replay the dataset
on its own disk: the local folder as it is when it holds the manifest S3 has (the machine that
converted it) or when nothing is staged (``txviz replay`` converts and replays on one machine),
else a fresh download under ``settings.ndjson_dir`` (another machine, or a dataset converted
again since). Parts are downloaded to temporary names and renamed, and the
manifest written last, so a download killed halfway is never taken for a dataset.

The parts hold the source's card numbers in clear until the processor tokenises them, like the
local staging folder (0600 files in 0700 folders): the bucket encrypts them at rest, only
PipelinePolicy may read the prefix, and a lifecycle rule expires them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from txviz_pipeline.ingest.convert import MANIFEST_NAME
from txviz_pipeline.ingest.replay.errors import ReplayError
from txviz_pipeline.private_files import private_dir, private_opener
from txviz_pipeline.s3objects import iter_keys
from txviz_pipeline.settings import STAGING_NDJSON_PREFIX, Settings


def staged_prefix(dataset: str) -> str:
    """The S3 prefix of a dataset staged under its folder name."""
    return f"{STAGING_NDJSON_PREFIX}{dataset}/"


def stage(s3: Any, bucket: str, dataset_dir: Path) -> str:
    """Upload a converted dataset (its parts, then its manifest); returns its ``s3://`` URI.

    Objects left under the prefix by an earlier conversion that the new manifest does not name
    are deleted afterwards.
    """
    dataset_dir = Path(dataset_dir)
    raw = (dataset_dir / MANIFEST_NAME).read_bytes()
    names = [part["name"] for part in json.loads(raw)["parts"]]
    prefix = staged_prefix(dataset_dir.name)
    for name in names:
        s3.upload_file(str(dataset_dir / name), bucket, prefix + name)
    s3.put_object(Bucket=bucket, Key=prefix + MANIFEST_NAME, Body=raw)
    keep = {prefix + name for name in [*names, MANIFEST_NAME]}
    for key in [k for k in iter_keys(s3, bucket, prefix) if k not in keep]:
        s3.delete_object(Bucket=bucket, Key=key)
    return f"s3://{bucket}/{prefix}"


def local_copy(dataset_dir: str | Path, settings: Settings, s3: Any) -> Path:
    """The dataset a conversion wrote at ``dataset_dir``, on this machine's disk.

    Locally stored state (the embedded stack): ``dataset_dir`` itself. State in S3: the staged
    copy's manifest decides; the folder of that name under ``settings.ndjson_dir`` is used as it
    is when it matches, downloaded again when it does not.
    """
    if not settings.state_in_s3:
        return Path(dataset_dir)
    name = Path(dataset_dir).name
    prefix = staged_prefix(name)
    try:
        raw = s3.get_object(Bucket=settings.bucket, Key=prefix + MANIFEST_NAME)["Body"].read()
    except s3.exceptions.NoSuchKey:
        if (Path(dataset_dir) / MANIFEST_NAME).is_file():
            # Converted here and never staged (``txviz replay`` converts and replays on one
            # machine): this disk's copy is the only one.
            return Path(dataset_dir)
        raise ReplayError(
            f"dataset {name!r} is not staged at s3://{settings.bucket}/{prefix}: convert it again "
            "(transactions_ndjson) before replaying"
        ) from None
    local = settings.ndjson_dir / name
    if _matches(local, raw):
        return local
    private_dir(local)
    (local / MANIFEST_NAME).unlink(missing_ok=True)
    for part in json.loads(raw)["parts"]:
        target = local / part["name"]
        tmp = target.with_name(f".{target.name}.tmp")
        s3.download_file(settings.bucket, prefix + part["name"], str(tmp))
        tmp.chmod(0o600)
        os.replace(tmp, target)
    with open(local / MANIFEST_NAME, "wb", opener=private_opener) as f:
        f.write(raw)
    return local


def _matches(local: Path, manifest: bytes) -> bool:
    """``local`` holds this manifest and every part it names, at its size (parts are named by
    position, so only an identical manifest vouches for their content)."""
    try:
        if (local / MANIFEST_NAME).read_bytes() != manifest:
            return False
    except FileNotFoundError:
        return False
    return all(_has_size(local / p["name"], p.get("bytes")) for p in json.loads(manifest)["parts"])


def _has_size(path: Path, size: int | None) -> bool:
    try:
        return size is not None and path.stat().st_size == size
    except FileNotFoundError:
        return False
