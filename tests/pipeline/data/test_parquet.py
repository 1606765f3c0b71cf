"""The Parquet reader gives the table the CSV reader gives for the same rows, by the same rules."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.data.ingest import read_table
from pipeline.data.parquet import is_parquet
from pipeline.data.validate import validate
from pipeline.errors import DataValidationError
from tests.conftest import ROOT

PANEL = {"series_column": "series_id", "title_column": "title", "date_column": "month", "target_column": "employed",
         "allow_any_csv_path": True}


def same(csv, parquet):
    assert csv.ids == parquet.ids and csv.titles == parquet.titles
    for name in ("series", "months"):
        np.testing.assert_array_equal(getattr(csv, name), getattr(parquet, name))
    np.testing.assert_array_equal(csv.values, parquet.values)  # NaN where both are
    np.testing.assert_array_equal(csv.rows - 1, parquet.rows), "a CSV line is the data row plus its header"
    assert csv.counts == parquet.counts and csv.bad_series == parquet.bad_series
    assert [{**p, "row": p["row"] - 1} for p in csv.problems] == parquet.problems


def test_the_us_employment_panel_reads_the_same_from_parquet(tmp_path):
    cfg = load_config(overrides=PANEL)
    frame = pd.read_csv(ROOT / "data" / "us_employment.csv", dtype={"month": str})
    frame.to_parquet(tmp_path / "us.parquet", index=False)
    csv, parquet = read_table(ROOT / "data" / "us_employment.csv", cfg), read_table(tmp_path / "us.parquet", cfg)
    same(csv, parquet)
    assert is_parquet(tmp_path / "us.parquet") and is_parquet(tmp_path) and not is_parquet(ROOT / "data")
    cut = read_table(tmp_path / "us.parquet", cfg, as_of="2000-01-01")
    assert cut.months.max() < 2000 * 12 and len(cut) == len(read_table(ROOT / "data" / "us_employment.csv", cfg,
                                                                       as_of="2000-01-01"))


def test_row_problems_are_the_csv_readers_problems(tmp_path):
    text = ("series_id,title,month,employed\n" + "".join(f"a,A,2000-{m:02d},{m}\n" for m in range(1, 13))
            + "b,B,2000-01,1\nb,B,2000-13,2\nb,B,2000-03,n/a\nb,B,2000-04,inf\nb,B,2000-05,1e999\nb,B,2000-06,12x\n"
            + "c,C,2000-01,1\nc,C,,2\nc,C,2999-01,3\nc,C,1200-01,4\n")
    (tmp_path / "p.csv").write_text(text)
    pd.read_csv(tmp_path / "p.csv", dtype=str, keep_default_na=False).to_parquet(tmp_path / "p.parquet")
    cfg = load_config(overrides=PANEL)
    csv, parquet = read_table(tmp_path / "p.csv", cfg), read_table(tmp_path / "p.parquet", cfg)
    same(csv, parquet)
    assert parquet.bad_series == {1: 5, 2: 3} and parquet.counts["date"] == 4
    report = validate(parquet, cfg, min_months=1)[1]
    assert [q["series"] for q in report["quarantine"]] == ["b", "c"]


def test_typed_columns_a_folder_of_partitions_and_what_is_refused(tmp_path):
    cfg = load_config(overrides={**PANEL, "target_column": "value", "date_column": "date"})
    folder = tmp_path / "panel"
    folder.mkdir()
    for k in range(3):
        pd.DataFrame({"series_id": [f"s{k}"] * 24, "title": "t",
                      "date": pd.date_range("2001-01-01", periods=24, freq="MS"),
                      "value": np.arange(24, dtype="int64") + k}).to_parquet(folder / f"part-{k}.parquet")
    table = read_table(folder, cfg)
    assert table.ids == ["s0", "s1", "s2"] and len(table) == 72 and table.rows[-1] == 72
    assert table.months[0] == 2001 * 12 and table.values[25] == 2.0
    pd.DataFrame({"series_id": ["s3", ""], "title": "t", "date": pd.to_datetime(["2001-01-01", "2001-02-01"]),
                  "value": [1.0, 2.0]}).to_parquet(folder / "part-3.parquet")
    with pytest.raises(DataValidationError) as refused:
        read_table(folder, cfg)
    assert (refused.value.file, refused.value.row, refused.value.column) == (str(folder / "part-3.parquet"), 2,
                                                                            "series_id")
    assert "empty series id" in str(refused.value)
    pd.DataFrame({"series_id": ["s4"], "title": "t", "when": ["2001-01"], "value": [1.0]}).to_parquet(
        folder / "part-3.parquet")
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['date'\]"):
        read_table(folder, cfg)
    with pytest.raises(DataValidationError, match="over the 1 MiB limit"):
        pd.DataFrame({"series_id": [f"s{i}" for i in range(200_000)], "title": "t", "date": "2001-01",
                      "value": np.random.default_rng(0).random(200_000)}).to_parquet(folder / "part-3.parquet")
        read_table(folder, load_config(overrides={**PANEL, "target_column": "value", "date_column": "date",
                                                  "max_file_mb": 1}))


@pytest.mark.parametrize("dates", [["2001-01", "2001-02", "2001-03"], ["2001-01", "2001-13", "2001-03"],
                                   ["2001-01", "2001-0x", "2001-03"], ["2001-01", "2001-02 ", "2001-3"],
                                   ["2001-01", None, "2001-03"], ["2001-01", "0000-02", "2001-03"],
                                   ["2001-01", "2001-02-28", "٢٠٠١-03"]])
def test_plain_year_months_read_fast_as_the_general_rules_read_them(tmp_path, dates):
    from pipeline.data.parquet import _year_months

    cfg = load_config(overrides={**PANEL, "date_column": "month", "target_column": "v"})
    frame = pd.DataFrame({"series_id": "a", "title": "t", "month": dates, "v": [1.0, 2.0, 3.0]})
    frame.to_parquet(tmp_path / "p.parquet")
    frame.fillna("").to_csv(tmp_path / "p.csv", index=False)
    same(read_table(tmp_path / "p.csv", cfg), read_table(tmp_path / "p.parquet", cfg))
    assert (_year_months(pa.chunked_array([pa.array(dates)])) is not None) == (dates[1] == "2001-02")
