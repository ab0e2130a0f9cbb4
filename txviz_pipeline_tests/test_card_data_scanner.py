"""The at-rest scanner finds a planted card number, street or birth date in every encoding the
end-to-end test relies on; otherwise its clean result would prove nothing."""

import base64
import gzip
import io
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from txviz_pipeline_tests.support.card_data import Needles, scan_files

CARD, STREET, DOB = "4652123412341234", "561 Perry Cove", "1978-06-21"


@pytest.fixture
def needles():
    return Needles({"cc_num": {CARD}, "street": {STREET}, "dob": {DOB}})


def test_clear_values_are_found(needles):
    line = json.dumps({"cc_num": CARD, "street": STREET, "dob": DOB}).encode()
    assert sorted(f.column for f in needles.find("x", line)) == ["cc_num", "dob", "street"]


def test_values_inside_base64_gzip_and_parquet_are_found(needles):
    raw = base64.b64encode(f'{{"street":"{STREET}"}}'.encode()).decode()
    assert [f.column for f in needles.find("e", json.dumps({"rawData": raw}).encode())] == [
        "street"
    ]
    assert [f.column for f in needles.find("g", gzip.compress(DOB.encode()))] == ["dob"]
    buf = io.BytesIO()
    pq.write_table(pa.table({"c": [CARD] * 1000}), buf, compression="zstd")
    assert {f.column for f in needles.find("p", buf.getvalue())} == {"cc_num"}


def test_a_grouped_card_number_is_found_by_its_digits():
    grouped = Needles({"cc_num": {"4652-1234-1234-1234"}})
    assert [f.column for f in grouped.find("x", f"card {CARD}".encode())] == ["cc_num"]


def test_files_and_duckdb_tables_are_searched_and_skips_honoured(tmp_path, needles):
    (tmp_path / "clean.txt").write_text("nothing here 2019-01-01 00:00:18")
    with duckdb.connect(str(tmp_path / "spice.duckdb")) as db:
        db.execute("CREATE TABLE t AS SELECT ? AS street", [STREET])
    staging = tmp_path / "staging"
    staging.mkdir()
    (staging / "part-00000.ndjson").write_text(CARD)
    found = scan_files(needles, tmp_path, skip=[staging])
    assert [(f.where.rsplit("/", 1)[-1], f.column) for f in found] == [("spice.duckdb", "street")]
    assert "561" not in str(found[0])  # a finding never prints the value
