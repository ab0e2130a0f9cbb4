"""The parsed infra/template.yaml, read with cfn-lint's decoder (it knows !Ref, !Sub, !GetAtt)."""

from __future__ import annotations

from typing import Any

import pytest
from cfnlint.decode import decode_str

from txviz_pipeline import settings

TEMPLATE_PATH = settings.REPO_ROOT / "infra" / "template.yaml"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert not errors, errors
    return parsed
