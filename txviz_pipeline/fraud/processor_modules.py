"""The processor Lambda's standard-library modules that the package runs too, loaded from lambda/.

``lambda`` is a Python keyword, so that folder is no package. The feature code and the tree
scorer are loaded from it by path, so training and the Dagster checks run the very code the
Lambda runs: there is no second implementation to drift.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from types import ModuleType

from txviz_pipeline.settings import REPO_ROOT

LAMBDA_DIR = REPO_ROOT / "lambda"


@cache
def load(name: str) -> ModuleType:
    """lambda/<name>.py as a module (once per process); it must not import its siblings."""
    path = LAMBDA_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"txviz_processor_{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the processor module {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cardhistory() -> ModuleType:
    """lambda/cardhistory.py: per-card history and the model's features."""
    return load("cardhistory")


def treemodel() -> ModuleType:
    """lambda/treemodel.py: the pure-Python scorer of an exported model."""
    return load("treemodel")
