"""The processor Lambda's fraud modules, loaded by path: one implementation for both sides.

``lambda`` is a Python keyword, so lambda/ is not a package; its standard-library modules that
training needs too (the per-card features, the tree scorer) are loaded from their files here.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from txviz_pipeline.settings import REPO_ROOT

LAMBDA_DIR = REPO_ROOT / "lambda"


def _load(name: str) -> ModuleType:
    qualified = f"{__name__}.{name}"
    if qualified in sys.modules:
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, LAMBDA_DIR / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {LAMBDA_DIR / name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[qualified]
        raise
    return module


cardhistory = _load("cardhistory")
treemodel = _load("treemodel")
