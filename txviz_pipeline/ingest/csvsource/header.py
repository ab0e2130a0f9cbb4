"""The header of a Sparkov CSV, checked before any row is read."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from txviz_pipeline.schema import (
    PREVIEW_ITEMS,
    SOURCE_COLUMNS,
    SchemaError,
    check_header,
    preview,
)

MAX_HEADER_BYTES = 64 << 10  # a Sparkov header is about 250 bytes


class SourceFileError(ValueError):
    """A source file that cannot be read as CSV at all: missing, empty or not UTF-8."""


class HeaderOrderError(SchemaError):
    """All Sparkov columns are present, but in another order or repeated."""

    def __init__(self, path: str, header: list[str]):
        self.path = path
        self.missing = []
        self.unexpected = []
        names = [_normalise(h) for h in header]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            detail = f"repeated columns: {', '.join(map(preview, repeated[:PREVIEW_ITEMS]))}"
        else:
            pos = next(
                i for i, (a, b) in enumerate(zip(names, SOURCE_COLUMNS, strict=True)) if a != b
            )
            detail = (
                f"column {pos + 1} is {preview(names[pos])} but should be {SOURCE_COLUMNS[pos]!r}; "
                f"expected order: {', '.join(map(repr, SOURCE_COLUMNS))}"
            )
        ValueError.__init__(self, f"{path} has the Sparkov columns in the wrong order; {detail}")


def _normalise(name: str) -> str:
    name = name.strip()
    return "" if name == "Unnamed: 0" else name


def read_header(path: str | os.PathLike[str]) -> list[str]:
    """The column names on the first line of a CSV file."""
    p = Path(path)
    if not p.is_file():
        raise SourceFileError(f"{p}: no such file")
    with open(p, "rb") as f:
        first = f.readline(MAX_HEADER_BYTES + 1)
    if len(first) > MAX_HEADER_BYTES:
        raise SourceFileError(
            f"not a Sparkov CSV: {p} starts with a line longer than {MAX_HEADER_BYTES:,} bytes"
        )
    if not first.strip():
        raise SourceFileError(f"{p} is empty: expected a CSV header line")
    try:
        text = first.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise SourceFileError(
            f"{p} is not UTF-8 text (byte {e.start} of the header line); "
            "is it compressed or in another encoding?"
        ) from e
    try:
        header = next(csv.reader([text]))
    except csv.Error as e:
        raise SourceFileError(f"not a Sparkov CSV: {p}: its first line is not CSV ({e})") from e
    if len(header) < 2:
        # One token and no commas, such as a key file: say so without showing any of it.
        raise SourceFileError(
            f"not a Sparkov CSV: {p}: its first line has no commas "
            f"(expected the {len(SOURCE_COLUMNS)}-column Sparkov header)"
        )
    return header


def require_sparkov_header(path: str | os.PathLike[str]) -> list[str]:
    """Return the header, or raise SchemaError if it is not the Sparkov fraudTrain.csv one
    (SourceFileError if no row follows it)."""
    header = read_header(path)
    check = check_header(header)
    if not check.ok:
        raise SchemaError(str(path), check.missing, check.unexpected)
    if check.misordered:
        raise HeaderOrderError(str(path), header)
    if not _has_rows(Path(path)):
        raise SourceFileError(f"{path} has the Sparkov header but no rows")
    return header


def _has_rows(path: Path) -> bool:
    """Whether anything but blank lines follows the header line."""
    with open(path, "rb") as f:
        f.readline(MAX_HEADER_BYTES + 1)
        while block := f.read(1 << 16):
            if block.strip():
                return True
    return False
