"""The QuickSight analysis and dashboard in infra/ are the local dashboard's twin.

Every local panel (queries.PANELS and the card drill-down's statements) has visuals in both the
analysis and the dashboard of infra/template.yaml; those visuals read only columns the SPICE
dataset has, and every column the panel's SQL reads, unless the twin says why not.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.decode import decode_str

from txviz_pipeline.serving import quicksight_template
from txviz_pipeline.serving.queries import (
    CARD_CHOICES_SQL,
    CARD_TIMELINE_SQL,
    DATASET_COLUMNS,
    PANELS,
)
from txviz_pipeline.serving.quicksight_dashboard import (
    CALCULATED_FIELDS,
    DASHBOARD_ID,
    SHEET_ID,
    TWINS,
    definition,
)
from txviz_pipeline.serving.quicksight_template import TEMPLATE_PATH, resources

# The local dashboard's SQL per panel: the PANELS and the card drill-down's two statements.
LOCAL_PANELS = {**PANELS, "card_choices": CARD_CHOICES_SQL, "card_timeline": CARD_TIMELINE_SQL}
GENERATED = ("QuickSightAnalysis", "QuickSightDashboard")


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    parsed, errors = decode_str(TEMPLATE_PATH.read_text())
    assert not errors, errors
    return parsed


def definitions(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id in GENERATED:
        yield logical_id, template["Resources"][logical_id]["Properties"]["Definition"]


def dataset_columns(template: dict[str, Any]) -> set[str]:
    [table] = template["Resources"]["QuickSightDataSet"]["Properties"]["PhysicalTableMap"].values()
    return {c["Name"] for c in table["CustomSql"]["Columns"]}


def columns_in(value: Any) -> set[str]:
    """Every column a part of a definition names (``{DataSetIdentifier, ColumnName}``)."""
    if isinstance(value, dict):
        found = {value["ColumnName"]} if "ColumnName" in value else set()
        return found.union(*(columns_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(columns_in(v) for v in value))
    return set()


def base_columns(names: set[str]) -> set[str]:
    """``names`` with each calculated field replaced by the columns its expression reads."""
    out: set[str] = set()
    for name in names:
        if name in CALCULATED_FIELDS:
            out |= base_columns(set(re.findall(r"\{(\w+)\}", CALCULATED_FIELDS[name])))
        else:
            out.add(name)
    return out


def visuals(sheet_definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    [sheet] = sheet_definition["Sheets"]
    return {inner["VisualId"]: inner for v in sheet["Visuals"] for inner in v.values()}


def twin_columns(sheet_definition: dict[str, Any], visual_ids: tuple[str, ...]) -> set[str]:
    """The dataset columns the visuals read: their fields, and filters scoped to them alone."""
    shown = visuals(sheet_definition)
    names = columns_in([shown[v] for v in visual_ids])
    for group in sheet_definition["FilterGroups"]:
        [reach] = group["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
        if set(reach.get("VisualIds", ())) & set(visual_ids):
            names |= columns_in(group["Filters"])
    return base_columns(names)


def sql_columns(sql: str) -> set[str]:
    """The dataset columns a statement names (bare or double-quoted)."""
    return {c for c in DATASET_COLUMNS if re.search(rf"(?<!\w){c}(?!\w)", sql)}


def test_template_holds_the_generated_analysis_and_dashboard(template):
    # infra/template.yaml is rewritten from quicksight_dashboard.py, never edited by hand.
    for logical_id, resource in resources().items():
        assert template["Resources"][logical_id] == resource, (
            f"{logical_id} differs from quicksight_dashboard.py; run "
            "python -m txviz_pipeline.serving.quicksight_template"
        )
    analysis, dashboard = (definition for _, definition in definitions(template))
    assert analysis == dashboard == definition()


def test_every_local_panel_has_its_quicksight_twin(template):
    assert set(TWINS) == set(LOCAL_PANELS), (
        "a local panel without a QuickSight twin (or a stale one)"
    )
    for logical_id, sheet_definition in definitions(template):
        shown = visuals(sheet_definition)
        for panel, twin in TWINS.items():
            assert twin.visual_ids, panel
            missing = set(twin.visual_ids) - set(shown)
            assert not missing, f"{logical_id} has no visual {missing} for panel {panel}"


def test_each_twin_reads_what_its_panel_reads(template):
    _, sheet_definition = next(definitions(template))
    for panel, sql in LOCAL_PANELS.items():
        twin = TWINS[panel]
        read = sql_columns(sql)
        assert read, panel
        assert set(twin.unshown) <= read, f"{panel}: stale reasons {set(twin.unshown) - read}"
        missing = read - twin_columns(sheet_definition, twin.visual_ids)
        assert missing == set(twin.unshown), f"{panel}'s twin does not read {missing}"


def test_visuals_read_only_columns_the_dataset_has(template):
    columns = dataset_columns(template)
    assert columns == set(DATASET_COLUMNS)
    for logical_id, sheet_definition in definitions(template):
        calculated = {f["Name"]: f["Expression"] for f in sheet_definition["CalculatedFields"]}
        assert calculated == CALCULATED_FIELDS
        assert not set(calculated) & columns, "a calculated field shadows a dataset column"
        for name, expression in calculated.items():
            reads = set(re.findall(r"\{(\w+)\}", expression))
            assert reads and reads <= columns, (logical_id, name, reads - columns)
        named = columns_in(sheet_definition["Sheets"]) | columns_in(
            sheet_definition["FilterGroups"]
        )
        assert named <= columns | set(calculated), (logical_id, named - columns - set(calculated))


def test_the_model_verdict_and_reasons_reach_quicksight(template):
    _, sheet_definition = next(definitions(template))
    flagged = visuals(sheet_definition)["flagged-latest"]
    assert {"fraud_score", "model_version", "fraud_reasons", "top_fraud_reason"} <= columns_in(
        flagged
    )
    [table] = template["Resources"]["QuickSightDataSet"]["Properties"]["PhysicalTableMap"].values()
    types = {c["Name"]: c["Type"] for c in table["CustomSql"]["Columns"]}
    assert types["fraud_reasons"] == types["top_fraud_reason"] == "STRING"
    assert types["fraud_flagged"] == "INTEGER" and types["model_version"] == "STRING"


def test_definitions_bind_the_dataset_and_filter_every_visual_like_the_sidebar(template):
    for logical_id, sheet_definition in definitions(template):
        resource = template["Resources"][logical_id]
        assert resource["Condition"] == "CreateQuickSight"
        [declaration] = sheet_definition["DataSetIdentifierDeclarations"]
        assert declaration["DataSetArn"] == {"Fn::GetAtt": ["QuickSightDataSet", "Arn"]}
        everywhere = [
            columns_in(g["Filters"])
            for g in sheet_definition["FilterGroups"]
            if g["ScopeConfiguration"]["SelectedSheets"]["SheetVisualScopingConfigurations"]
            == [{"SheetId": SHEET_ID, "Scope": "ALL_VISUALS"}]
        ]
        # The local sidebar: event dates, category and state narrow every panel.
        assert everywhere == [{"event_day"}, {"category"}, {"state"}]
        [sheet] = sheet_definition["Sheets"]
        laid_out = {
            e["ElementId"] for e in sheet["Layouts"][0]["Configuration"]["GridLayout"]["Elements"]
        }
        assert laid_out == set(visuals(sheet_definition))


def test_the_map_places_states_by_their_geographic_role(template):
    logical = template["Resources"]["QuickSightDataSet"]["Properties"]["LogicalTableMap"]
    tags = [
        (t["TagColumnOperation"]["ColumnName"], t["TagColumnOperation"]["Tags"])
        for table in logical.values()
        for t in table["DataTransforms"]
        if "TagColumnOperation" in t
    ]
    assert tags == [("state", [{"ColumnGeographicRole": "STATE"}])]
    _, sheet_definition = next(definitions(template))
    wells = visuals(sheet_definition)["state-map"]["ChartConfiguration"]["FieldWells"]
    assert columns_in(wells["GeospatialMapAggregatedFieldWells"]["Geospatial"]) == {"state"}


def test_write_template_rewrites_only_the_generated_block(tmp_path):
    copy = tmp_path / "template.yaml"
    shutil.copy(TEMPLATE_PATH, copy)
    original = copy.read_text()
    assert quicksight_template.write_template(copy) is False
    start = original.index(quicksight_template.BEGIN_MARKER)
    stale = original.replace("Latest transactions flagged", "Stale title", 1)
    assert stale != original and stale.index("Stale title") > start
    copy.write_text(stale)
    assert quicksight_template.write_template(copy) is True
    assert copy.read_text() == original


def field_ids(value: Any, key: str) -> list[str]:
    """Every value of ``key`` in a part of a definition."""
    if isinstance(value, dict):
        own = [value[key]] if key in value else []
        return own + [f for v in value.values() for f in field_ids(v, key)]
    if isinstance(value, list):
        return [f for v in value for f in field_ids(v, key)]
    return []


def test_field_ids_are_unique_and_every_reference_names_a_field_of_its_visual(template):
    _, sheet_definition = next(definitions(template))
    defined: list[str] = []
    for visual_id, visual in visuals(sheet_definition).items():
        wells = visual["ChartConfiguration"]["FieldWells"]
        own = field_ids(wells, "FieldId")
        assert own and all(f.startswith(f"{visual_id}.") for f in own), visual_id
        referenced = field_ids(visual, "FieldId") + field_ids(visual, "SourceField")
        assert set(referenced) <= set(own), (visual_id, set(referenced) - set(own))
        defined += own
    assert len(defined) == len(set(defined))


def test_the_stack_outputs_the_dashboard_url(template):
    assert template["Resources"]["QuickSightDashboard"]["Properties"]["DashboardId"] == DASHBOARD_ID
    output = template["Outputs"]["QuickSightDashboardUrl"]
    assert output["Condition"] == "CreateQuickSight"
    assert output["Value"]["Fn::Sub"].endswith(f"/sn/dashboards/{DASHBOARD_ID}")


# CloudFormation takes a template inline up to 51,200 bytes, and from S3 up to 1 MB.
INLINE_TEMPLATE_BYTES = 51_200
S3_TEMPLATE_BYTES = 1_000_000


def test_the_template_fits_cloudformation_and_the_readme_deploys_it_through_s3():
    size = TEMPLATE_PATH.stat().st_size
    assert size < S3_TEMPLATE_BYTES
    readme = (TEMPLATE_PATH.parent / "README.md").read_text()
    deploys = re.findall(r"aws cloudformation deploy[^`]*?(?=\n\s*\n|```)", readme)
    assert deploys
    if size > INLINE_TEMPLATE_BYTES:
        assert all("--s3-bucket" in command for command in deploys), deploys
