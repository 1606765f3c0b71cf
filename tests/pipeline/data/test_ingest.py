import pytest

from pipeline.config import Config, load_config
from pipeline.data.ingest import ingest, read_snapshot
from pipeline.errors import DataValidationError
from pipeline.months import month_text
from tests.conftest import DATA


def columns(**values: str) -> Config:
    """The default config with other columns."""
    return load_config(overrides=values)


def test_bundled_data_is_the_public_series(tmp_path):
    snap = ingest(DATA, tmp_path / "s.npz", load_config())
    table = read_snapshot(snap.path)
    assert snap.rows == 144 and (snap.first_month, snap.last_month) == ("1949-01", "1960-12")
    assert table.values.sum() == 40363 and table.values.dtype == "float64"
    assert table.rows.tolist()[:2] == [2, 3] and table.sha256 == snap.sha256


def test_as_of_keeps_only_rows_before_the_interval_end(tmp_path):
    snap = ingest(DATA, tmp_path / "s.npz", load_config(), as_of="1960-12-01T00:00:00+00:00")
    assert snap.rows == 143 and snap.last_month == "1960-11"
    again = ingest(DATA, tmp_path / "t.npz", load_config(), as_of="1960-12-01")
    assert again.sha256 == snap.sha256, "a re-run of the same month must see exactly the same data"


def test_configurable_column_names(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("date,sales\n2001-01-01,5\n2001-02-01,6\n")
    table = read_snapshot(ingest(path, tmp_path / "s.npz", columns(date_column="date", target_column="sales")).path)
    assert [month_text(m) for m in table.months] == ["2001-01", "2001-02"] and table.values.tolist() == [5, 6]


@pytest.mark.parametrize("content, row, column, message", [
    (None, None, None, "file not found"),
    ("", 1, None, "file is empty"),
    ("Month,#Passengers\n", 2, None, "header only"),
    ("Month,Passengers\n1949-01,112\n", 1, "#Passengers", "missing column"),
    ("Month;#Passengers\n1949-01;112\n", 1, "Month", ";"),
    ("id,Month,#Passengers\nA,1949-01,112\n,1949-02,118\n", 3, "id", "empty series id"),
])
def test_structural_errors_name_file_row_and_column(tmp_path, content, row, column, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataValidationError, match=message) as info:
        ingest(path, tmp_path / "s.npz", columns(series_column="id" if "id," in (content or "") else ""))
    assert (info.value.file, info.value.row, info.value.column) == (str(path), row, column)
    assert str(path) in str(info.value)
    assert not (tmp_path / "s.npz").exists()


def test_byte_order_mark_is_stripped_and_reported(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfMonth,#Passengers\n1949-01,112\n")
    snap = ingest(path, tmp_path / "s.npz", load_config())
    assert snap.had_bom and read_snapshot(snap.path).values.tolist() == [112]


def test_a_long_csv_of_many_series(tmp_path):
    path = tmp_path / "panel.csv"
    path.write_text('id,title,Month,#Passengers\nB,"Bee, Inc.",1949-01,1\nA,Ay,1949-01,2\nB,"Bee, Inc.",1949-02,3\n'
                    "A,Ay,1949-13,4\n")
    table = read_snapshot(ingest(path, tmp_path / "s.npz", columns(series_column="id", title_column="title")).path)
    assert table.ids == ["B", "A"] and table.titles == ["Bee, Inc.", "Ay"]
    assert table.series.tolist() == [0, 1, 0] and table.values.tolist() == [1, 2, 3]
    assert table.problems == [{"row": 5, "column": "Month", "series": 1,
                               "message": "date '1949-13' does not parse (expected YYYY-MM or YYYY-MM-DD, a real "
                                          "month and day)"}]
    assert table.bad_series == {1: 1}
