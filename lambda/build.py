"""Build the processor Lambda's deployable zip: ``python lambda/build.py [--out PATH]``.

The zip holds the runtime modules of lambda/ (every .py here except this script) and the bundled
fraud model (``fraud_model.json``) at its root, so the handler string is ``handler.handler`` and
the modules import each other by name. Entries are
sorted and carry a fixed timestamp and mode, so the same sources always give the same bytes (and
the same CodeSha256 on AWS).
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

LAMBDA_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = LAMBDA_DIR / "dist" / "processor.zip"
# The earliest time a zip entry can record; any fixed value makes builds reproducible.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644


BUNDLED_MODEL = "fraud_model.json"


def sources(folder: Path = LAMBDA_DIR) -> list[Path]:
    """What the Lambda runs: lambda/*.py without the build script, and the bundled model."""
    modules = [p for p in folder.glob("*.py") if p.name != Path(__file__).name]
    return sorted([*modules, folder / BUNDLED_MODEL])


def build(out: Path = DEFAULT_OUT, folder: Path = LAMBDA_DIR) -> Path:
    """Write the deterministic zip to ``out`` (atomically) and return its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sources(folder):
            info = zipfile.ZipInfo(path.name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # Unix, so the mode bits are honoured
            zf.writestr(info, path.read_bytes(), compresslevel=9)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="zip to write")
    args = parser.parse_args(argv)
    out = build(args.out)
    # Like `du -b`: size in bytes, a tab, the path; deploy scripts read the first field.
    sys.stdout.write(f"{out.stat().st_size}\t{out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
