import pytest

from pipeline.data.ingest import ingest, read_snapshot
from pipeline.data.validate import raise_for_report, validate
from pipeline.errors import DataValidationError
from tests.conftest import DATA


def _validate(tmp_path, text: str, min_rows: int = 1):
    path = tmp_path / "in.csv"
    path.write_text(text)
    snap = ingest(path, tmp_path / "s.npz", "Month", "#Passengers")
    return validate(read_snapshot(snap.path), min_rows)


def test_bundled_data_passes_with_the_article_checks(tmp_path):
    snap = ingest(DATA, tmp_path / "s.npz", "Month", "#Passengers")
    series, report = validate(read_snapshot(snap.path), 85)
    assert report["status"] == "passed" and report["errors"] == []
    assert report["shape"] == [144, 2]
    assert report["null_counts"] == {"Month": 0, "#Passengers": 0}
    assert report["head"][0] == {"Month": "1949-01", "#Passengers": 112.0}
    assert len(series) == 144 and series.sum() == 40363
    assert report["profile"]["max"] == 622 and report["profile"]["first_month"] == "1949-01"
    assert report["profile"]["seasonal_index"]["7"] > 1.1  # July is a peak month


@pytest.mark.parametrize("rows, row, message", [
    ("1949-01,112\n1949-02,\n", 3, "missing value"),
    ("1949-01,112\n1949-02,abc\n", 3, "not a number"),
    ("1949-01,112\n1949-02,\"1,200\"\n", 3, "thousands separators"),
    ("1949-01,112\n1949-02,inf\n", 3, "infinite"),
    ("1949-01,112\n1949-02,0\n", 3, "not positive"),
    ("1949-01,112\n1949-02,-5\n", 3, "not positive"),
    ("1949-01,112\n1949-02,118\n1949-02,119\n", 4, "duplicate month 1949-02"),
    ("1949-01,112\n1949-02,118\n1949-05,119\n", 4, "missing month.*1949-03..1949-04"),
])
def test_value_and_calendar_errors(tmp_path, rows, row, message):
    _, report = _validate(tmp_path, "Month,#Passengers\n" + rows)
    assert report["status"] == "failed"
    with pytest.raises(DataValidationError, match=message) as info:
        raise_for_report(report)
    assert info.value.row == row and info.value.column in ("Month", "#Passengers")
    assert str(tmp_path / "in.csv") in str(info.value)


def test_null_counts_are_reported_like_the_article(tmp_path):
    _, report = _validate(tmp_path, "Month,#Passengers\n1949-01,112\n1949-02,\n1949-03,NaN\n")
    assert report["null_counts"]["#Passengers"] == 2
    assert len(report["errors"]) == 2


def test_unsorted_rows_are_sorted_and_reported(tmp_path):
    series, report = _validate(tmp_path, "Month,#Passengers\n1949-02,118\n1949-01,112\n1949-03,132\n")
    assert report["status"] == "passed"
    assert series.tolist() == [112, 118, 132]
    assert any("sorted" in fix for fix in report["fixes"])


def test_too_few_rows_for_lookback_and_holdout(tmp_path):
    _, report = _validate(tmp_path, "Month,#Passengers\n1949-01,112\n1949-02,118\n", min_rows=85)
    with pytest.raises(DataValidationError, match="need at least 85"):
        raise_for_report(report)
