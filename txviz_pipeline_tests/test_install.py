"""The environment ``scripts/bootstrap.sh`` installs: packages come with their bytecode.

Every Dagster run, sensor evaluation server and stack process is a new Python process. Where
PYTHONDONTWRITEBYTECODE is set (many CI and container images) Python never caches a compiled
module, so without bytecode written at install time each process compiles dagster, pandas,
pyarrow and boto3 from source again.
"""

import importlib
import importlib.util
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["dagster", "pandas", "pyarrow", "botocore", "moto", "duckdb"])
def test_installed_packages_carry_their_bytecode(module):
    source = importlib.import_module(module).__file__
    assert source is not None and source.endswith(".py")
    cached = Path(importlib.util.cache_from_source(source))
    assert cached.is_file(), (
        f"{module} has no compiled bytecode ({cached}): run ./scripts/bootstrap.sh, which "
        "installs the locked environment with --compile-bytecode"
    )
