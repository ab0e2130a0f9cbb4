"""Find a source CSV's card numbers, streets and birth dates in whatever txviz stored.

The needles are every distinct ``cc_num``, ``street`` and ``dob`` of the source rows (a card
number also in its digits-only form). A stored object is searched as its raw bytes and as every
view a reader could decode from it: base64 tokens (Firehose's ``rawData``), gzip, Parquet
columns and DuckDB tables, so compression or encoding never hides a clear value.
"""

from __future__ import annotations

import base64
import binascii
import csv
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PERSONAL_COLUMNS = ("cc_num", "street", "dob")
# Base64 of anything worth decoding: 16+ characters of the alphabet, optional padding.
_BASE64_TOKEN = re.compile(rb"[A-Za-z0-9+/]{16,}={0,2}")


@dataclass(frozen=True)
class Finding:
    where: str
    column: str
    value: str

    def __str__(self) -> str:
        # The value is the test's own fake data; show only its column and length.
        return f"{self.where}: a source {self.column} ({len(self.value)} chars)"


class Needles:
    """The personal values of a source CSV, searchable in bytes."""

    def __init__(self, values: dict[str, set[str]]) -> None:
        self._column: dict[bytes, str] = {}
        for column, found in values.items():
            for value in found:
                value = value.strip()
                if not value:
                    continue
                self._column[value.encode()] = column
                digits = re.sub(r"\D", "", value)
                if column == "cc_num" and len(digits) >= 11:
                    self._column[digits.encode()] = column
        alternatives = sorted(self._column, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(a) for a in alternatives))

    @classmethod
    def from_csv(cls, path: Path) -> Needles:
        values: dict[str, set[str]] = {c: set() for c in PERSONAL_COLUMNS}
        csv.field_size_limit(max(csv.field_size_limit(), path.stat().st_size))
        with path.open(newline="") as f:
            for row in csv.DictReader(f):
                for column in PERSONAL_COLUMNS:
                    if row.get(column):
                        values[column].add(row[column])
        return cls(values)

    def __len__(self) -> int:
        return len(self._column)

    def find(self, where: str, data: bytes) -> list[Finding]:
        """Each needle found in ``data`` or in any view decoded from it, once."""
        found = {
            Finding(where, self._column[m.group(0)], m.group(0).decode()): None
            for view in _views(where, data)
            for m in self._pattern.finditer(view)
        }
        return list(found)


def _views(where: str, data: bytes) -> Iterator[bytes]:
    yield data
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
            yield data
        except (OSError, EOFError):
            pass
    if data[:4] == b"PAR1":
        yield _parquet_text(data)
    elif where.endswith(".duckdb"):
        yield _duckdb_text(where)
    for token in _BASE64_TOKEN.findall(data):
        try:
            yield base64.b64decode(token, validate=True)
        except (binascii.Error, ValueError):
            continue


def _parquet_text(data: bytes) -> bytes:
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data))
    return repr(table.to_pylist()).encode()


def _duckdb_text(path: str) -> bytes:
    import duckdb

    with duckdb.connect(path, read_only=True) as db:
        tables = [t for (t,) in db.execute("SHOW TABLES").fetchall()]
        return repr([db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables]).encode()


def scan_files(needles: Needles, root: Path, skip: Iterable[Path] = ()) -> list[Finding]:
    """Search every file under ``root`` except those under ``skip``."""
    skipped = [p.resolve() for p in skip]
    findings = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or any(path.resolve().is_relative_to(s) for s in skipped):
            continue
        findings += needles.find(str(path), path.read_bytes())
    return findings


def scan_bucket(needles: Needles, s3, bucket: str) -> tuple[int, list[Finding]]:
    """Search every object in ``bucket``; (objects searched, findings)."""
    from txviz_pipeline.s3objects import iter_keys

    searched, findings = 0, []
    for key in iter_keys(s3, bucket, ""):
        searched += 1
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        findings += needles.find(f"s3://{bucket}/{key}", body)
    return searched, findings
