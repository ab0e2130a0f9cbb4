"""Building blocks of a QuickSight analysis definition: fields, visuals and filters as the
CreateAnalysis / AWS::QuickSight::Analysis ``Definition`` spells them.

QuickSight's definition is verbose (a bar chart is a dozen nested keys); these functions keep
txviz's sheet (quicksight_dashboard.py) to one line of intent per field. They return plain
dicts, so the same value goes into the CloudFormation template and into any API call.
"""

from __future__ import annotations

from typing import Any

# The name the analysis and dashboard give the txviz dataset.
DATASET = "transactions"

Dict = dict[str, Any]


def column(name: str) -> Dict:
    return {"DataSetIdentifier": DATASET, "ColumnName": name}


def title(text: str) -> Dict:
    return {"Visibility": "VISIBLE", "FormatText": {"PlainText": text}}


def dimension(field_id: str, name: str, *, numeric: bool = False) -> Dict:
    """A group-by field (``numeric``: a number kept in order, like the hour of day)."""
    kind = "NumericalDimensionField" if numeric else "CategoricalDimensionField"
    return {kind: {"FieldId": field_id, "Column": column(name)}}


def measure(field_id: str, name: str, aggregation: str | None = None) -> Dict:
    """A measure: ``aggregation`` of a column (SUM, COUNT, DISTINCT_COUNT ...), or None for a
    calculated field that aggregates itself (fraud_rate)."""
    if aggregation in ("COUNT", "DISTINCT_COUNT"):
        return {
            "CategoricalMeasureField": {
                "FieldId": field_id,
                "Column": column(name),
                "AggregationFunction": aggregation,
            }
        }
    field: Dict = {"FieldId": field_id, "Column": column(name)}
    if aggregation:
        field["AggregationFunction"] = {"SimpleNumericalAggregation": aggregation}
    return {"NumericalMeasureField": field}


def field_id(field: Dict) -> str:
    [inner] = field.values()
    return inner["FieldId"]


def tooltip(shown: tuple[Dict, ...], extra: tuple[Dict, ...] = ()) -> Dict:
    """A tooltip listing the visual's ``shown`` fields, then ``extra`` measures that are not in
    its field wells (QuickSight reads those as columns with their aggregation)."""
    items = [{"FieldTooltipItem": {"FieldId": field_id(f), "Visibility": "VISIBLE"}} for f in shown]
    for f in extra:
        [inner] = f.values()
        item: Dict = {"Column": inner["Column"], "Visibility": "VISIBLE"}
        aggregation = inner.get("AggregationFunction")
        if isinstance(aggregation, dict):
            item["Aggregation"] = {"NumericalAggregationFunction": aggregation}
        elif aggregation:
            item["Aggregation"] = {"CategoricalAggregationFunction": aggregation}
        items.append({"ColumnTooltipItem": item})
    return {
        "TooltipVisibility": "VISIBLE",
        "SelectedTooltipType": "DETAILED",
        "FieldBasedTooltip": {"AggregationVisibility": "HIDDEN", "TooltipFields": items},
    }


def sort_by(field: Dict, direction: str = "DESC", limit: int | None = None) -> Dict:
    sort: Dict = {
        "CategorySort": [{"FieldSort": {"FieldId": field_id(field), "Direction": direction}}]
    }
    if limit:
        sort["CategoryItemsLimit"] = {"ItemsLimit": limit, "OtherCategories": "EXCLUDE"}
    return sort


def kpi(visual_id: str, text: str, value: Dict) -> Dict:
    return {
        "KPIVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": {"FieldWells": {"Values": [value]}},
        }
    }


def bar(
    visual_id: str,
    text: str,
    category: Dict,
    value: Dict,
    *,
    extra: tuple[Dict, ...] = (),
    horizontal: bool = False,
    sort: Dict | None = None,
) -> Dict:
    """Bars of ``value`` per ``category``; ``extra`` measures show in the tooltip."""
    configuration: Dict = {
        "FieldWells": {"BarChartAggregatedFieldWells": {"Category": [category], "Values": [value]}},
        "Orientation": "HORIZONTAL" if horizontal else "VERTICAL",
        "Tooltip": tooltip((category, value), extra),
    }
    if sort:
        configuration["SortConfiguration"] = sort
    return {
        "BarChartVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": configuration,
        }
    }


def line(
    visual_id: str,
    text: str,
    category: Dict,
    value: Dict,
    *,
    colors: Dict | None = None,
    extra: tuple[Dict, ...] = (),
) -> Dict:
    """One line of ``value`` over ``category`` (per value of ``colors``, if given); ``extra``
    measures show in the tooltip."""
    wells: Dict = {"Category": [category], "Values": [value]}
    shown = (category, value)
    if colors:
        wells["Colors"] = [colors]
        shown = (category, colors, value)
    return {
        "LineChartVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": {
                "FieldWells": {"LineChartAggregatedFieldWells": wells},
                "SortConfiguration": sort_by(category, "ASC"),
                "Tooltip": tooltip(shown, extra),
            },
        }
    }


def combo(
    visual_id: str,
    text: str,
    category: Dict,
    bars: Dict,
    lines: Dict,
    *,
    extra: tuple[Dict, ...] = (),
) -> Dict:
    """Bars and a line over one category axis, each on its own scale."""
    return {
        "ComboChartVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": {
                "FieldWells": {
                    "ComboChartAggregatedFieldWells": {
                        "Category": [category],
                        "BarValues": [bars],
                        "LineValues": [lines],
                    }
                },
                "SortConfiguration": sort_by(category, "ASC"),
                "Tooltip": tooltip((category, bars, lines), extra),
            },
        }
    }


def points_map(
    visual_id: str, text: str, place: Dict, size: Dict, *, extra: tuple[Dict, ...] = ()
) -> Dict:
    """Points at each ``place`` (a column with a geographic role), sized by ``size``."""
    return {
        "GeospatialMapVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": {
                "FieldWells": {
                    "GeospatialMapAggregatedFieldWells": {"Geospatial": [place], "Values": [size]}
                },
                "Tooltip": tooltip((place, size), extra),
            },
        }
    }


def table(
    visual_id: str,
    text: str,
    group_by: list[Dict],
    values: list[Dict],
    *,
    sort: Dict | None = None,
    hidden: tuple[str, ...] = (),
    actions: list[Dict] | None = None,
) -> Dict:
    """A table of ``values`` per ``group_by``; ``hidden`` field ids group but are not shown."""
    configuration: Dict = {
        "FieldWells": {"TableAggregatedFieldWells": {"GroupBy": group_by, "Values": values}}
    }
    if sort:
        configuration["SortConfiguration"] = {"RowSort": [sort]}
    if hidden:
        configuration["FieldOptions"] = {
            "SelectedFieldOptions": [{"FieldId": f, "Visibility": "HIDDEN"} for f in hidden]
        }
    visual: Dict = {
        "VisualId": visual_id,
        "Title": title(text),
        "ChartConfiguration": configuration,
    }
    if actions:
        visual["Actions"] = actions
    return {"TableVisual": visual}


def rows_table(
    visual_id: str,
    text: str,
    columns: list[tuple[str, str]],
    *,
    sort_field: str,
    direction: str,
) -> Dict:
    """A table of rows as they are (``columns``: (field id, column)), sorted on one field."""
    values = [{"FieldId": fid, "Column": column(name)} for fid, name in columns]
    return {
        "TableVisual": {
            "VisualId": visual_id,
            "Title": title(text),
            "ChartConfiguration": {
                "FieldWells": {"TableUnaggregatedFieldWells": {"Values": values}},
                "SortConfiguration": {
                    "RowSort": [{"FieldSort": {"FieldId": sort_field, "Direction": direction}}]
                },
            },
        }
    }


# Keys whose value is a field id of the visual they sit in.
_FIELD_ID_KEYS = ("FieldId", "SourceField")


def own_field_ids(visual: Dict) -> Dict:
    """``visual`` with its field ids prefixed by its visual id: QuickSight wants every field id
    unique across the definition, while the builders above reuse short names."""
    prefix = visual_id(visual)

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: f"{prefix}.{v}" if k in _FIELD_ID_KEYS else walk(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(visual)


def calculated(name: str, expression: str) -> Dict:
    return {"DataSetIdentifier": DATASET, "Name": name, "Expression": expression}


def visual_id(visual: Dict) -> str:
    [inner] = visual.values()
    return inner["VisualId"]


def scope(sheet_id: str, visual_ids: list[str] | None = None) -> Dict:
    """A filter's reach: every visual of the sheet, or the ones named."""
    configuration: Dict = {"SheetId": sheet_id, "Scope": "ALL_VISUALS"}
    if visual_ids is not None:
        configuration = {"SheetId": sheet_id, "Scope": "SELECTED_VISUALS", "VisualIds": visual_ids}
    return {"SelectedSheets": {"SheetVisualScopingConfigurations": [configuration]}}


def filter_group(group_id: str, filters: list[Dict], reach: Dict) -> Dict:
    return {
        "FilterGroupId": group_id,
        "Filters": filters,
        "ScopeConfiguration": reach,
        "CrossDataset": "SINGLE_DATASET",
        "Status": "ENABLED",
    }


def _filter(kind: str, filter_id: str, name: str, **fields: Any) -> Dict:
    return {kind: {"FilterId": filter_id, "Column": column(name), **fields}}


def pick_values(filter_id: str, name: str) -> Dict:
    """A filter on ``name`` that the viewer narrows with a list (all values until then)."""
    listed = {"MatchOperator": "CONTAINS", "SelectAllOptions": "FILTER_ALL_VALUES"}
    listed["NullOption"] = "ALL_VALUES"
    return _filter(
        "CategoryFilter", filter_id, name, Configuration={"FilterListConfiguration": listed}
    )


def equals_parameter(filter_id: str, name: str, parameter: str) -> Dict:
    """Rows whose ``name`` equals the value of ``parameter``."""
    custom = {"MatchOperator": "EQUALS", "ParameterName": parameter, "NullOption": "NON_NULLS_ONLY"}
    return _filter(
        "CategoryFilter", filter_id, name, Configuration={"CustomFilterConfiguration": custom}
    )


def equals_number(filter_id: str, name: str, value: float) -> Dict:
    return _filter(
        "NumericEqualityFilter",
        filter_id,
        name,
        Value=value,
        MatchOperator="EQUALS",
        NullOption="NON_NULLS_ONLY",
    )


def top(filter_id: str, name: str, limit: int, by: Dict) -> Dict:
    """Only the ``limit`` values of ``name`` that rank highest on the measure ``by``."""
    [inner] = by.values()
    aggregation = inner["AggregationFunction"]
    if isinstance(aggregation, dict):
        aggregation = {"NumericalAggregationFunction": aggregation}
    else:
        aggregation = {"CategoricalAggregationFunction": aggregation}
    ranking = {
        "Column": inner["Column"],
        "SortDirection": "DESC",
        "AggregationFunction": aggregation,
    }
    return _filter(
        "TopBottomFilter", filter_id, name, Limit=limit, AggregationSortConfigurations=[ranking]
    )
