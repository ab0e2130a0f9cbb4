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


def checkov_skips(template: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(logical id, skip) for every checkov check a resource skips inline."""
    return [
        (logical_id, skip)
        for logical_id, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
