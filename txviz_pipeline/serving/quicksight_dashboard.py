"""The QuickSight analysis and dashboard: the local dashboard's panels, on the SPICE dataset.

One sheet with a twin of every panel of the local dashboard (``TWINS``: panel -> visual ids),
built from the same dataset columns (``queries.DATASET_COLUMNS``) and the same definitions:
fraud rate is labelled fraud over transactions, "flagged" is the processor's ``fraud_flagged``,
days and minutes are the first 10 and 16 characters of ``event_time``. The sheet's controls
mirror the local sidebar: event days, category and state narrow every visual; a card picked in
"Cards most flagged" (or pasted as a token) drives the card drill-down.

infra/template.yaml holds this definition in its ``QuickSightAnalysis`` and
``QuickSightDashboard`` resources (quicksight_template.py writes them; a test fails while the
template's copy differs from this module).

One file, a little over 400 lines, on purpose: it is the sheet, read top to bottom as the
dashboard reads, and ``TWINS`` must sit beside the visuals it names. The JSON building blocks
they share live in quicksight_visuals.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from txviz_pipeline.serving import quicksight_visuals as qs
from txviz_pipeline.serving.queries import MINUTES_SHOWN, TOP_MERCHANTS_LIMIT

ANALYSIS_ID = "txviz-transactions"
DASHBOARD_ID = "txviz-transactions"
SHEET_ID = "txviz-live"
CARD_PARAMETER = "CardToken"

# Calculated fields: the local SQL's expressions, in QuickSight's language.
CALCULATED_FIELDS = {
    "fraud_rate": "sum({is_fraud}) / count({trans_num})",
    "event_day": "substring({event_time}, 1, 10)",
    "event_minute": "substring({event_time}, 1, 16)",
    "fraud_amount": "ifelse({is_fraud} = 1, {amount}, 0)",
    "verdict": "ifelse({fraud_flagged} = 1, 'flagged', 'not flagged')",
}

# Measures shared by several visuals.
TRANSACTIONS = qs.measure("transactions", "trans_num", "COUNT")
AMOUNT = qs.measure("amount_total", "amount", "SUM")
FRAUD = qs.measure("fraud_count", "is_fraud", "SUM")
FRAUD_RATE = qs.measure("fraud_rate", "fraud_rate")
FLAGGED = qs.measure("flagged", "fraud_flagged", "SUM")


@dataclass(frozen=True)
class Twin:
    """The visuals that show one local panel, and the columns its SQL reads that they do not
    (with why)."""

    visual_ids: tuple[str, ...]
    unshown: dict[str, str] = field(default_factory=dict)


# Every local panel (queries.PANELS, and the card drill-down's two statements) -> its visuals.
TWINS: dict[str, Twin] = {
    "kpis": Twin(
        (
            "kpi-transactions",
            "kpi-amount",
            "kpi-fraud",
            "kpi-fraud-rate",
            "kpi-flagged",
            "kpi-cards",
        ),
        {"event_time": "first and last event time feed the local status line only"},
    ),
    "by_category": Twin(("category-amount", "category-table")),
    "by_state": Twin(
        ("state-map",),
        {
            "lat": "QuickSight places a state by its geographic role, not by its mean position",
            "long": "as lat",
        },
    ),
    "per_minute": Twin(("minute-volume",)),
    "by_hour": Twin(("hour-fraud-rate",)),
    "by_day": Twin(("day-fraud-rate",)),
    "by_age_band": Twin(("age-fraud-rate",)),
    "daily_by_gender": Twin(("daily-amount-gender",)),
    "daily_by_age_band": Twin(("daily-amount-age-band",)),
    "top_merchants": Twin(("merchants-fraud",)),
    "latest_flagged": Twin(
        ("flagged-latest",), {"trans_num": "only breaks ties in the local list's order"}
    ),
    "card_choices": Twin(("card-choices",)),
    "card_timeline": Twin(("card-totals", "card-timeline", "card-transactions")),
}


def kpi_visuals() -> list[dict[str, Any]]:
    return [
        qs.kpi("kpi-transactions", "Transactions", TRANSACTIONS),
        qs.kpi("kpi-amount", "Amount", AMOUNT),
        qs.kpi("kpi-fraud", "Fraud (labelled)", FRAUD),
        qs.kpi("kpi-fraud-rate", "Fraud rate", FRAUD_RATE),
        qs.kpi("kpi-flagged", "Flagged by the model", FLAGGED),
        qs.kpi("kpi-cards", "Cards", qs.measure("cards", "card_token", "DISTINCT_COUNT")),
    ]


def spending_visuals() -> list[dict[str, Any]]:
    category = qs.dimension("category", "category")
    day = qs.dimension("day", "event_day")
    age_band = qs.dimension("age_band", "age_band")
    return [
        qs.bar(
            "category-amount",
            "Amount by category",
            category,
            AMOUNT,
            extra=(TRANSACTIONS, FRAUD_RATE),
            horizontal=True,
            sort=qs.sort_by(AMOUNT),
        ),
        qs.table(
            "category-table",
            "Categories",
            [category],
            [TRANSACTIONS, AMOUNT, FRAUD, FRAUD_RATE],
            sort={"FieldSort": {"FieldId": "amount_total", "Direction": "DESC"}},
        ),
        qs.points_map(
            "state-map",
            "Spending and fraud by state",
            qs.dimension("state", "state"),
            AMOUNT,
            extra=(TRANSACTIONS, FRAUD, FRAUD_RATE),
        ),
        qs.combo(
            "minute-volume",
            "Volume and amount per minute",
            qs.dimension("minute", "event_minute"),
            TRANSACTIONS,
            AMOUNT,
            extra=(FRAUD,),
        ),
        qs.bar(
            "hour-fraud-rate",
            "Fraud rate by hour of day",
            qs.dimension("hour", "hour", numeric=True),
            FRAUD_RATE,
            extra=(TRANSACTIONS, FRAUD),
            sort=qs.sort_by(qs.dimension("hour", "hour", numeric=True), "ASC"),
        ),
        qs.line(
            "day-fraud-rate", "Fraud rate by day", day, FRAUD_RATE, extra=(TRANSACTIONS, FRAUD)
        ),
        qs.bar(
            "merchants-fraud",
            "Top merchants by fraud",
            qs.dimension("merchant", "merchant"),
            FRAUD,
            extra=(FRAUD_RATE, qs.measure("fraud_amount", "fraud_amount", "SUM")),
            horizontal=True,
            sort=qs.sort_by(FRAUD, limit=TOP_MERCHANTS_LIMIT),
        ),
        qs.bar(
            "age-fraud-rate",
            "Fraud rate by age band",
            age_band,
            FRAUD_RATE,
            extra=(TRANSACTIONS, FRAUD, AMOUNT),
            sort=qs.sort_by(age_band, "ASC"),
        ),
        qs.line(
            "daily-amount-gender",
            "Daily amount by gender",
            day,
            AMOUNT,
            colors=qs.dimension("gender", "gender"),
            extra=(TRANSACTIONS, FRAUD_RATE),
        ),
        qs.line(
            "daily-amount-age-band",
            "Daily amount by age band",
            day,
            AMOUNT,
            colors=age_band,
            extra=(TRANSACTIONS, FRAUD_RATE),
        ),
    ]


def flag_visuals() -> list[dict[str, Any]]:
    card = qs.dimension("card_last4", "card_last4")
    token = qs.dimension("card_token", "card_token")
    pick_card = {
        "CustomActionId": "pick-card",
        "Name": "Drill into this card",
        "Status": "ENABLED",
        "Trigger": "DATA_POINT_CLICK",
        "ActionOperations": [
            {
                "SetParametersOperation": {
                    "ParameterValueConfigurations": [
                        {
                            "DestinationParameterName": CARD_PARAMETER,
                            "Value": {"SourceField": "card_token"},
                        }
                    ]
                }
            }
        ],
    }
    return [
        qs.rows_table(
            "flagged-latest",
            "Latest transactions flagged by the model",
            [
                (name, name)
                for name in (
                    "processed_at",
                    "card_last4",
                    "amount",
                    "fraud_score",
                    "model_version",
                    "fraud_reasons",
                    "top_fraud_reason",
                    "is_fraud",
                    "merchant",
                    "category",
                    "city",
                    "state",
                    "event_time",
                )
            ],
            sort_field="processed_at",
            direction="DESC",
        ),
        # The card is picked by its token, which the table groups by but never shows.
        qs.table(
            "card-choices",
            "Cards most flagged (click one to drill down)",
            [card, token],
            [FLAGGED, TRANSACTIONS, AMOUNT],
            sort={"FieldSort": {"FieldId": "flagged", "Direction": "DESC"}},
            hidden=("card_token",),
            actions=[pick_card],
        ),
        qs.table(
            "card-totals",
            "Card drill-down",
            [card],
            [TRANSACTIONS, AMOUNT, FLAGGED, FRAUD],
        ),
        qs.line(
            "card-timeline",
            "Card transactions over time",
            qs.dimension("event_time", "event_time"),
            AMOUNT,
            colors=qs.dimension("verdict", "verdict"),
        ),
        qs.rows_table(
            "card-transactions",
            "Card transactions",
            [
                (name, name)
                for name in (
                    "event_time",
                    "card_last4",
                    "amount",
                    "merchant",
                    "category",
                    "fraud_score",
                    "fraud_flagged",
                    "model_version",
                    "fraud_reasons",
                    "is_fraud",
                )
            ],
            sort_field="event_time",
            direction="ASC",
        ),
    ]


CARD_VISUALS = ["card-totals", "card-timeline", "card-transactions"]
# (filter id, column, control title): the local sidebar's filters, on every visual.
SHEET_FILTERS = (
    ("filter-event-day", "event_day", "Event dates (UTC)"),
    ("filter-category", "category", "Category"),
    ("filter-state", "state", "State"),
)
# Grid layout (36 columns): (column span, row span) per visual, in page order.
LAYOUT = {
    **{visual_id: (6, 4) for visual_id in TWINS["kpis"].visual_ids},
    "category-amount": (22, 10),
    "category-table": (14, 10),
    "state-map": (36, 12),
    "minute-volume": (18, 9),
    "hour-fraud-rate": (18, 9),
    "merchants-fraud": (18, 9),
    "age-fraud-rate": (18, 9),
    "daily-amount-gender": (18, 9),
    "daily-amount-age-band": (18, 9),
    "day-fraud-rate": (36, 8),
    "flagged-latest": (36, 12),
    "card-choices": (14, 10),
    "card-totals": (22, 4),
    "card-timeline": (22, 6),
    "card-transactions": (36, 10),
}


def sheet() -> dict[str, Any]:
    visuals = [qs.own_field_ids(v) for v in kpi_visuals() + spending_visuals() + flag_visuals()]
    ids = [qs.visual_id(v) for v in visuals]
    order = sorted(ids, key=list(LAYOUT).index)
    controls = [
        {
            "Dropdown": {
                "FilterControlId": f"{filter_id}-control",
                "Title": text,
                "SourceFilterId": filter_id,
                "Type": "MULTI_SELECT",
            }
        }
        for filter_id, _, text in SHEET_FILTERS
    ]
    card_control = {
        "TextField": {
            "ParameterControlId": "card-token-control",
            "Title": "Card token (or click a card)",
            "SourceParameterName": CARD_PARAMETER,
        }
    }
    control_ids = [f"{f}-control" for f, _, _ in SHEET_FILTERS]
    return {
        "SheetId": SHEET_ID,
        "Name": "Live transactions and fraud",
        "Title": "txviz · transactions and fraud",
        "Visuals": visuals,
        "FilterControls": controls,
        "ParameterControls": [card_control],
        "Layouts": [
            {
                "Configuration": {
                    "GridLayout": {
                        "Elements": [
                            {
                                "ElementId": visual_id,
                                "ElementType": "VISUAL",
                                "ColumnSpan": LAYOUT[visual_id][0],
                                "RowSpan": LAYOUT[visual_id][1],
                            }
                            for visual_id in order
                        ]
                    }
                }
            }
        ],
        "SheetControlLayouts": [
            {
                "Configuration": {
                    "GridLayout": {
                        "Elements": [
                            {
                                "ElementId": control_id,
                                "ElementType": element_type,
                                "ColumnSpan": 2,
                                "RowSpan": 1,
                            }
                            for control_id, element_type in (
                                *((c, "FILTER_CONTROL") for c in control_ids),
                                ("card-token-control", "PARAMETER_CONTROL"),
                            )
                        ]
                    }
                }
            }
        ],
    }


def filter_groups() -> list[dict[str, Any]]:
    everywhere = qs.scope(SHEET_ID)
    groups = [
        qs.filter_group(f"{filter_id}-group", [qs.pick_values(filter_id, name)], everywhere)
        for filter_id, name, _ in SHEET_FILTERS
    ]
    newest_minutes = qs.top(
        "filter-newest-minutes",
        "event_minute",
        MINUTES_SHOWN,
        qs.measure("newest", "unix_time", "MAX"),
    )
    return [
        *groups,
        # Like the local panel: only the newest minutes of event time that hold data.
        qs.filter_group(
            "newest-minutes-group", [newest_minutes], qs.scope(SHEET_ID, ["minute-volume"])
        ),
        qs.filter_group(
            "flagged-group",
            [qs.equals_number("filter-flagged", "fraud_flagged", 1)],
            qs.scope(SHEET_ID, ["flagged-latest"]),
        ),
        qs.filter_group(
            "card-group",
            [qs.equals_parameter("filter-card", "card_token", CARD_PARAMETER)],
            qs.scope(SHEET_ID, CARD_VISUALS),
        ),
    ]


def definition() -> dict[str, Any]:
    """The analysis' (and the dashboard's) Definition, bound to the txviz SPICE dataset."""
    return {
        "DataSetIdentifierDeclarations": [
            {"Identifier": qs.DATASET, "DataSetArn": {"Fn::GetAtt": ["QuickSightDataSet", "Arn"]}}
        ],
        "CalculatedFields": [qs.calculated(n, e) for n, e in CALCULATED_FIELDS.items()],
        "ParameterDeclarations": [
            {
                "StringParameterDeclaration": {
                    "Name": CARD_PARAMETER,
                    "ParameterValueType": "SINGLE_VALUED",
                }
            }
        ],
        "FilterGroups": filter_groups(),
        "Sheets": [sheet()],
    }
