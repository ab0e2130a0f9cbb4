"""The CSV files the ingest tests read: the repository's sample and the hand-made fixtures."""

from __future__ import annotations

from pathlib import Path

from txviz_pipeline.settings import REPO_ROOT

DATA = Path(__file__).parent / "data"
SAMPLE = REPO_ROOT / "data" / "sample.csv"  # txviz generate --rows 5000 --seed 42
MALFORMED = DATA / "malformed.csv"  # one row per kind of reject, between good rows
ULB = DATA / "ulb_creditcard_head.csv"  # the head of Kaggle's ULB creditcard.csv: another schema


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return path


# MALFORMED: line -> the reason the conversion gives (the header is line 1): the field and what
# was expected, never the value
CONVERSION_REJECTS = {
    5: "bad_value: amt is not a number",
    6: "bad_csv: line has 3 fields, expected 23",
    7: "bad_value: category is not one of the 14 Sparkov categories",
    8: "bad_value: trans_date_trans_time is not a 'YYYY-MM-DD HH:MM:SS' timestamp",
    9: "empty_record: line is empty",
    10: "bad_csv: line has 24 fields, expected 23",
    11: "bad_value: cc_num is not a card number (8-19 digits)",
    13: "bad_value: is_fraud is not 0 or 1",
}
