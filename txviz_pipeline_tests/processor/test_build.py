"""lambda/build.py: a reproducible zip that holds exactly the runtime modules and runs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from .builders import BASE_RECORD, TEST_KEY, event, line

BUILD = Path(__file__).resolve().parents[2] / "lambda" / "build.py"
MODULES = [
    "cardhistory.py",
    "cardstore.py",
    "dynamostore.py",
    "fraudmodel.py",
    "handler.py",
    "quarantine.py",
    "records.py",
    "response.py",
    "scoring.py",
    "treemodel.py",
    "validate.py",
]
# Everything in the zip: the modules and the bundled fraud model.
ENTRIES = sorted([*MODULES, "fraud_model.json"])


def run_build(out: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(BUILD), "--out", str(out)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return proc.stdout


def test_build_is_reproducible_and_prints_its_size(tmp_path: Path):
    a, b = tmp_path / "a" / "processor.zip", tmp_path / "b.zip"
    out = run_build(a)
    run_build(b)
    assert out == f"{a.stat().st_size}\t{a}\n"
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as zf:
        assert zf.namelist() == ENTRIES
        for name in ENTRIES:
            info = zf.getinfo(name)
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert info.external_attr >> 16 == 0o100644
            assert zf.read(name) == (BUILD.parent / name).read_bytes()


def test_zip_runs_as_the_handler(tmp_path: Path):
    # Lambda puts the zip's root on sys.path and imports "handler", which imports its sibling
    # modules; a fresh interpreter with only the zip on its path (no repo, no venv packages) does
    # the same, so a module missing from the zip fails here.
    out = tmp_path / "processor.zip"
    run_build(out)
    script = (
        "import json, sys, handler; "
        "print(json.dumps(sorted(m.__file__ for m in sys.modules.values() "
        f"if getattr(m, '__file__', None) and m.__file__.startswith({str(out)!r})))); "
        "print(json.dumps(handler.handler(json.load(sys.stdin), None)))"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-S",
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(out)!r}); {script}",
        ],
        input=json.dumps(event([line(BASE_RECORD)])),
        capture_output=True,
        text=True,
        timeout=60,
        env={"TXVIZ_CARD_TOKEN_KEY": TEST_KEY},
    )
    assert proc.returncode == 0, proc.stderr
    origins, body = proc.stdout.splitlines()
    # dynamostore.py is imported only when a card-history table is configured (on AWS).
    loaded = [name for name in MODULES if name != "dynamostore.py"]
    assert json.loads(origins) == [str(out / name) for name in loaded]
    (rec,) = json.loads(body)["records"]
    assert rec["result"] == "Ok"
    assert json.loads(base64.b64decode(rec["data"]))["card_last4"] == "2095"
