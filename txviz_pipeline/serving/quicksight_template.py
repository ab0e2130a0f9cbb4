"""infra/template.yaml's QuickSight analysis and dashboard, written from quicksight_dashboard.py.

CloudFormation cannot include one file in another, nor take YAML aliases, so the template holds
the definition twice (the analysis' and the dashboard's) in a generated block between two
marker comments. After editing the sheet, rewrite the block with
``python -m txviz_pipeline.serving.quicksight_template``; test_quicksight_dashboard fails while
the template's copy differs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from txviz_pipeline.serving.quicksight_dashboard import ANALYSIS_ID, DASHBOARD_ID, definition
from txviz_pipeline.settings import QUICKSIGHT_DATASET_ID, REPO_ROOT

TEMPLATE_PATH = REPO_ROOT / "infra" / "template.yaml"
BEGIN_MARKER = "  # BEGIN generated QuickSight analysis and dashboard"
END_MARKER = "  # END generated QuickSight analysis and dashboard"


def _permissions(actions: list[str]) -> list[dict[str, Any]]:
    return [{"Principal": {"Ref": "QuickSightPrincipalArn"}, "Actions": actions}]


_OWNER_CHECK = {"cfn-lint": {"config": {"ignore_checks": ["W1030"]}}}


def resources() -> dict[str, Any]:
    """The template's QuickSightAnalysis and QuickSightDashboard resources."""
    common = {"AwsAccountId": {"Ref": "AWS::AccountId"}}
    return {
        "QuickSightAnalysis": {
            "Type": "AWS::QuickSight::Analysis",
            "Condition": "CreateQuickSight",
            "Metadata": _OWNER_CHECK,
            "Properties": {
                **common,
                "AnalysisId": ANALYSIS_ID,
                "Name": "txviz transactions and fraud",
                "Definition": definition(),
                "Permissions": _permissions(
                    [
                        "quicksight:DescribeAnalysis",
                        "quicksight:DescribeAnalysisPermissions",
                        "quicksight:QueryAnalysis",
                        "quicksight:UpdateAnalysis",
                        "quicksight:UpdateAnalysisPermissions",
                        "quicksight:DeleteAnalysis",
                        "quicksight:RestoreAnalysis",
                    ]
                ),
            },
        },
        "QuickSightDashboard": {
            "Type": "AWS::QuickSight::Dashboard",
            "Condition": "CreateQuickSight",
            "Metadata": _OWNER_CHECK,
            "Properties": {
                **common,
                "DashboardId": DASHBOARD_ID,
                "Name": "txviz transactions and fraud",
                "VersionDescription": f"txviz panels on dataset {QUICKSIGHT_DATASET_ID}",
                "Definition": definition(),
                "DashboardPublishOptions": {
                    "AdHocFilteringOption": {"AvailabilityStatus": "ENABLED"},
                    "ExportToCSVOption": {"AvailabilityStatus": "ENABLED"},
                    "SheetControlsOption": {"VisibilityState": "EXPANDED"},
                },
                "Permissions": _permissions(
                    [
                        "quicksight:DescribeDashboard",
                        "quicksight:ListDashboardVersions",
                        "quicksight:QueryDashboard",
                        "quicksight:UpdateDashboard",
                        "quicksight:UpdateDashboardPermissions",
                        "quicksight:UpdateDashboardPublishedVersion",
                        "quicksight:DescribeDashboardPermissions",
                        "quicksight:DeleteDashboard",
                    ]
                ),
            },
        },
    }


def resources_yaml() -> str:
    """The generated block of infra/template.yaml, markers included."""
    import yaml  # a dependency of Dagster; only this command needs it

    class Dumper(yaml.SafeDumper):
        # CloudFormation rejects YAML aliases: write shared values out each time.
        def ignore_aliases(self, data: Any) -> bool:
            return True

    # Innermost mappings and lists on one line each: the block stays readable as a template.
    body = yaml.dump(
        resources(),
        Dumper=Dumper,
        sort_keys=False,
        width=100,
        default_flow_style=None,
        allow_unicode=True,
    )
    indented = "".join(f"  {line}" if line.strip() else line for line in body.splitlines(True))
    note = (
        "  # Generated from txviz_pipeline/serving/quicksight_dashboard.py: edit that module\n"
        "  # and run `python -m txviz_pipeline.serving.quicksight_template`.\n"
    )
    return f"{BEGIN_MARKER}\n{note}{indented}{END_MARKER}\n"


def write_template(path: Path = TEMPLATE_PATH) -> bool:
    """Rewrite the generated block of ``path``; True if it changed."""
    text = path.read_text()
    start = text.index(BEGIN_MARKER)
    end = text.index(END_MARKER) + len(END_MARKER) + 1
    updated = text[:start] + resources_yaml() + text[end:]
    if updated != text:
        path.write_text(updated)
    return updated != text


if __name__ == "__main__":
    changed = write_template()
    print(f"{TEMPLATE_PATH}: {'rewritten' if changed else 'already up to date'}", file=sys.stderr)
