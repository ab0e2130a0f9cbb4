"""CSV -> NDJSON dataset: exact values, parts and manifest, rejects that reconcile."""

from __future__ import annotations

import csv
import ctypes
import json
import re
from pathlib import Path

import pytest

from txviz_pipeline.generator.sparkov import generate_csv
from txviz_pipeline.ingest import ndjson
from txviz_pipeline.ingest.convert import convert_csv_to_ndjson
from txviz_pipeline.ingest.csvsource.header import SourceFileError
from txviz_pipeline.ingest.csvsource.scan import scan_block
from txviz_pipeline.ingest.csvsource.validate import validate_csv
from txviz_pipeline.redact import PERSONAL_FIELDS
from txviz_pipeline.schema import NDJSON_FIELDS, SOURCE_COLUMNS, SchemaError
from txviz_pipeline_tests.ingest.sources import CONVERSION_REJECTS, MALFORMED, SAMPLE, ULB

INTS = {"row_id", "city_pop", "unix_time", "is_fraud"}
FLOATS = {"amt", "lat", "long", "merch_lat", "merch_long"}
MANIFEST_KEYS = [
    "source",
    "rows",
    "bytes",
    "rejected",
    "rejects",
    "first_event_time",
    "last_event_time",
    "parts",
]


def dataset_lines(out: Path) -> list[str]:
    manifest = json.loads((out / "manifest.json").read_text())
    text = "".join((out / p["name"]).read_text() for p in manifest["parts"])
    assert text == "" or text.endswith("\n")
    return text.split("\n")[:-1]


def expected_line(csv_row: list[str]) -> str:
    """The NDJSON line for a CSV row, built independently with the json module."""
    parts = []
    for name, value in zip(NDJSON_FIELDS, csv_row, strict=True):
        text = value if name in INTS | FLOATS else json.dumps(value, ensure_ascii=False)
        parts.append(f'"{name}":{text}')
    return "{" + ",".join(parts) + "}"


@pytest.fixture(scope="module")
def sample_dataset(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ndjson") / "sample"
    result = convert_csv_to_ndjson(SAMPLE, out, chunk_rows=1_200)
    return result, out


def test_every_value_of_the_sample_is_exact(sample_dataset):
    result, out = sample_dataset
    csv_rows = list(csv.reader(SAMPLE.read_text().splitlines()))[1:]
    lines = dataset_lines(out)
    assert len(lines) == len(csv_rows) == result.rows_out == 5000
    for line, row in zip(lines, csv_rows, strict=True):
        assert line == expected_line(row)
        record = json.loads(line)
        assert list(record) == list(NDJSON_FIELDS)
        assert record["cc_num"] == row[2] and isinstance(record["cc_num"], str)
        assert record["zip"] == row[12] and isinstance(record["zip"], str)
        assert record["trans_date_trans_time"] == row[1]
        assert round(record["amt"] * 100) == round(float(row[5]) * 100)
        assert isinstance(record["amt"], float) and repr(record["amt"]) == row[5]
        for name in INTS:
            assert type(record[name]) is int
        for name in FLOATS:
            assert record[name] == float(row[NDJSON_FIELDS.index(name)])


def test_parts_and_manifest(sample_dataset):
    result, out = sample_dataset
    manifest = json.loads((out / "manifest.json").read_text())
    assert list(manifest) == MANIFEST_KEYS
    assert manifest["source"] == str(SAMPLE)
    assert manifest["rows"] == 5000 and manifest["rejected"] == 0
    assert manifest["rejects"] == "rejects.ndjson"
    assert (out / "rejects.ndjson").read_text() == ""
    parts = manifest["parts"]
    assert [p["name"] for p in parts] == [f"part-{i:05d}.ndjson" for i in range(5)]
    assert [p["rows"] for p in parts] == [1200, 1200, 1200, 1200, 200]
    assert [p["first_row_id"] for p in parts] == [0, 1200, 2400, 3600, 4800]
    for p in parts:
        path = out / p["name"]
        assert path.stat().st_size == p["bytes"]
        first = json.loads(path.read_text().split("\n", 1)[0])
        assert first["row_id"] == p["first_row_id"]
    assert manifest["bytes"] == sum(p["bytes"] for p in parts) == result.bytes
    lines = SAMPLE.read_text().splitlines()
    assert manifest["first_event_time"] == lines[1].split(",")[1]
    assert manifest["last_event_time"] == lines[-1].split(",")[1]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "rejects.ndjson", *(p["name"] for p in parts)]
    )


REDACTED_KEPT = [
    f for f in NDJSON_FIELDS if f not in PERSONAL_FIELDS and f not in ("row_id", "trans_num")
]


def test_malformed_rows_go_to_rejects_and_counts_reconcile(tmp_path: Path):
    out = tmp_path / "bad"
    result = convert_csv_to_ndjson(MALFORMED, out)
    assert result.rows_in == 13
    assert result.rows_in == result.rows_out + result.rejected
    assert (result.rows_out, result.rejected) == (5, 8)
    rejects = [json.loads(line) for line in (out / "rejects.ndjson").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [5, 6, 7, 8, 9, 10, 11, 13]
    assert [r["reason"] for r in rejects] == [CONVERSION_REJECTS[r["line"]] for r in rejects]
    # A row that parsed keeps its redacted fields; a line that is no row only line and reason.
    assert rejects[0] == {
        "line": 5,
        "row_id": 3,
        "reason": "bad_value: amt is not a number",
        "trans_num": rejects[0]["trans_num"],
        "card_last4": "2095",
        **{k: rejects[0][k] for k in REDACTED_KEPT},
    }
    assert rejects[0]["amt"] == "abc" and rejects[0]["city_pop"] == 3495
    assert len(rejects[0]["trans_num"]) == 32
    assert rejects[1] == {"line": 6, "reason": "bad_csv: line has 3 fields, expected 23"}
    text = (out / "rejects.ndjson").read_text()
    for secret in ("2703186189652095", "Jennifer", "Banks", "Perry Cove", "1988-03-09"):
        assert secret not in text

    records = [json.loads(line) for line in dataset_lines(out)]
    assert [r["row_id"] for r in records] == [0, 1, 2, 9, 11]
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["rows"], manifest["rejected"]) == (5, 8)


def test_card_numbers_of_12_and_19_digits_keep_every_digit(tmp_path: Path):
    convert_csv_to_ndjson(MALFORMED, tmp_path / "cards")
    lines = dataset_lines(tmp_path / "cards")
    by_id = {json.loads(line)["row_id"]: line for line in lines}
    assert json.loads(by_id[1])["cc_num"] == "180042946491"
    assert json.loads(by_id[2])["cc_num"] == "4820134112734960003"
    assert '"cc_num":"4820134112734960003"' in by_id[2]


def test_amounts_stay_exact_to_the_cent(tmp_path: Path):
    convert_csv_to_ndjson(MALFORMED, tmp_path / "amt")
    lines = {json.loads(line)["row_id"]: line for line in dataset_lines(tmp_path / "amt")}
    amounts = {i: re.search(r'"amt":([^,]+),', line).group(1) for i, line in lines.items()}
    assert amounts == {0: "4.97", 1: "45.0", 2: "1043.31", 9: "0.01", 11: "1234567.89"}


def test_quotes_and_backslashes_are_escaped(tmp_path: Path):
    convert_csv_to_ndjson(MALFORMED, tmp_path / "esc")
    records = {json.loads(x)["row_id"]: json.loads(x) for x in dataset_lines(tmp_path / "esc")}
    assert records[9]["street"] == '12 "Main" St\\Apt 4'
    assert records[0]["merchant"] == "fraud_Rippin, Kub and Mann"
    assert records[0]["job"] == "Psychologist, counselling"


def test_number_forms_json_does_not_allow_are_rewritten(tmp_path: Path):
    header = ",".join(SOURCE_COLUMNS)
    row = MALFORMED.read_text().split("\n")[1].split(",")
    forms = ["45", ".5", "007.25", "+3.1", "4.970"]
    lines = [header]
    for i, amount in enumerate(forms):
        fields = list(row)
        fields[0], fields[6] = str(i), amount  # index; the quoted merchant spans two fields
        lines.append(",".join(fields))
    path = tmp_path / "forms.csv"
    path.write_text("\n".join(lines) + "\n")
    convert_csv_to_ndjson(path, tmp_path / "forms")
    text = dataset_lines(tmp_path / "forms")
    written = [re.search(r'"amt":([^,]+),', line).group(1) for line in text]
    assert written == ["45.0", "0.5", "7.25", "3.1", "4.970"]
    assert [json.loads(line)["amt"] for line in text] == [45.0, 0.5, 7.25, 3.1, 4.97]


def test_row_limit(tmp_path: Path):
    result = convert_csv_to_ndjson(SAMPLE, tmp_path / "first", rows=123, chunk_rows=50)
    assert (result.rows_in, result.rows_out) == (123, 123)
    assert [p.rows for p in result.parts] == [50, 50, 23]
    records = [json.loads(line) for line in dataset_lines(tmp_path / "first")]
    assert [r["row_id"] for r in records] == list(range(123))
    limited = convert_csv_to_ndjson(MALFORMED, tmp_path / "bad", rows=6)  # lines 2..7
    assert (limited.rows_in, limited.rows_out, limited.rejected) == (6, 3, 3)


def test_a_wrong_header_fails_before_anything_is_written(tmp_path: Path):
    out = tmp_path / "ulb"
    with pytest.raises(SchemaError, match="missing columns"):
        convert_csv_to_ndjson(ULB, out)
    assert not out.exists()


def test_a_new_conversion_replaces_the_old_dataset(tmp_path: Path):
    out = tmp_path / "again"
    convert_csv_to_ndjson(SAMPLE, out, chunk_rows=1000)
    assert len(list(out.glob("part-*.ndjson"))) == 5
    result = convert_csv_to_ndjson(SAMPLE, out, rows=10)
    assert sorted(p.name for p in out.glob("part-*.ndjson")) == ["part-00000.ndjson"]
    assert json.loads((out / "manifest.json").read_text())["rows"] == result.rows == 10


def test_kaggle_unnamed_index_header_converts(tmp_path: Path):
    text = SAMPLE.read_text().replace(",trans_date", "Unnamed: 0,trans_date", 1)
    path = tmp_path / "fraudTest.csv"
    path.write_text(text)
    assert convert_csv_to_ndjson(path, tmp_path / "unnamed").rows_out == 5000


def test_a_header_only_csv_fails_and_keeps_the_previous_dataset(tmp_path: Path):
    out = tmp_path / "kept"
    convert_csv_to_ndjson(SAMPLE, out, rows=10)
    before = sorted(p.name for p in out.iterdir())
    path = tmp_path / "header-only.csv"
    path.write_text(",".join(SOURCE_COLUMNS) + "\n\n")
    with pytest.raises(SourceFileError, match="no rows"):
        convert_csv_to_ndjson(path, out)
    assert sorted(p.name for p in out.iterdir()) == before


def dataset_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_fast_and_checked_paths_write_the_same_dataset(tmp_path: Path, monkeypatch):
    """Clean blocks are laid out straight from the CSV bytes; blocks with anything unusual
    go through the parse-and-check path. Both must write the same bytes."""
    big = tmp_path / "big.csv"
    generate_csv(big, rows=40_000, seed=3)  # ~10 MiB: several blocks
    lines = big.read_bytes().split(b"\n")
    lines[25_000] = lines[25_000].replace(b",", b",x", 1)  # one bad row: its block is checked
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(b"\n".join(lines))
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes(SAMPLE.read_bytes().replace(b"\n", b"\r\n"))

    fast_blocks = {}  # first line -> whether the block took the fast path

    def counting_scan(block, head=0):
        spans = scan_block(block, head)
        fast_blocks[block.first_line] = spans is not None
        return spans

    for name, path in [("sample", SAMPLE), ("malformed", MALFORMED), ("crlf", crlf),
                       ("big", big), ("mixed", mixed)]:  # fmt: skip
        fast_blocks.clear()
        monkeypatch.setattr(ndjson, "scan_block", counting_scan)
        fast = convert_csv_to_ndjson(path, tmp_path / f"{name}-fast", chunk_rows=7_000)
        took_fast_path = {line for line, fast in fast_blocks.items() if fast}
        checked_blocks = {line for line, fast in fast_blocks.items() if not fast}
        monkeypatch.setattr(ndjson, "scan_block", lambda block, head=0: None)
        checked = convert_csv_to_ndjson(path, tmp_path / f"{name}-checked", chunk_rows=7_000)
        assert dataset_files(tmp_path / f"{name}-fast") == dataset_files(
            tmp_path / f"{name}-checked"
        )
        assert (fast.rows_in, fast.rows_out, fast.rejected) == (
            checked.rows_in,
            checked.rows_out,
            checked.rejected,
        )
        if name == "malformed":
            assert not took_fast_path and len(checked_blocks) == 1
        elif name == "mixed":  # only the block with the bad row (line 25,002) is checked
            (first_line,) = checked_blocks
            assert first_line <= 25_002 < min(x for x in took_fast_path if x > first_line)
        else:
            assert len(took_fast_path) == len(fast_blocks) >= 1 and not checked_blocks
    assert [json.loads(x)["row_id"] for x in dataset_lines(tmp_path / "mixed-fast")][
        24_997:25_000
    ] == [24_997, 24_998, 25_000]


def test_the_converter_leaves_the_process_allocator_alone(tmp_path: Path, monkeypatch):
    """In Dagster the converter runs inside the run worker: it must not retune glibc there."""

    def no_libc(*args, **kwargs):
        raise AssertionError("the converter reached for libc")

    monkeypatch.setattr(ctypes, "CDLL", no_libc)
    assert convert_csv_to_ndjson(SAMPLE, tmp_path / "plain").rows_out == 5000
    assert validate_csv(MALFORMED).rows == 13


def test_a_shifted_rows_reject_keeps_no_card_number_or_personal_field(tmp_path: Path):
    header, first = SAMPLE.read_text().splitlines()[:2]
    fields = next(csv.reader([first]))
    card, dob, street = fields[2], fields[17], fields[9]
    # The card number slid into the merchant column; the cc_num column holds the merchant.
    fields[2], fields[3] = "fraud_Kutch", card
    path = tmp_path / "shifted.csv"
    path.write_text(header + "\n" + ",".join(f'"{f}"' for f in fields) + "\n")
    out = tmp_path / "out"
    assert convert_csv_to_ndjson(path, out).rejected == 1
    rejects = out / "rejects.ndjson"
    (kept,) = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert kept["reason"] == "bad_value: cc_num is not a card number (8-19 digits)"
    assert (kept["line"], kept["row_id"], kept["card_last4"]) == (2, 0, None)
    assert kept["merchant"] == "[redacted]" and kept["trans_num"] == fields[18]
    assert not {"cc_num", "first", "last", "street", "dob", "raw"} & set(kept)
    for value in (card, card[-8:], dob, street, fields[6], fields[7]):
        assert value not in rejects.read_text()
    assert rejects.stat().st_mode & 0o777 == 0o600 and out.stat().st_mode & 0o777 == 0o700
