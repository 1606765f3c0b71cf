import pytest

from pipeline.config import load_config
from pipeline.data.ingest import ingest, read_snapshot
from pipeline.data.validate import raise_for_report, validate
from pipeline.errors import DataValidationError
from tests.conftest import DATA


def _validate(tmp_path, text: str, min_rows: int = 1):
    path = tmp_path / "in.csv"
    path.write_text(text)
    snap = ingest(path, tmp_path / "s.npz", load_config())
    return validate(read_snapshot(snap.path), min_rows)


def test_bundled_data_passes_with_the_article_checks(tmp_path):
    snap = ingest(DATA, tmp_path / "s.npz", load_config())
    panel, report = validate(read_snapshot(snap.path), 85)
    series = panel.series(0)
    assert report["status"] == "passed" and report["errors"] == [] and panel.ids == ["AirPassengers"]
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
    ("1949-01,112\n1949-1x,118\n", 3, "does not parse"),
    ("1949-01,112\n,118\n", 3, "empty date"),
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
    panel, report = _validate(tmp_path, "Month,#Passengers\n1949-02,118\n1949-01,112\n1949-03,132\n")
    assert report["status"] == "passed"
    assert panel.values.tolist() == [112, 118, 132]
    assert any("sorted" in fix for fix in report["fixes"])


def test_too_few_rows_for_lookback_and_holdout(tmp_path):
    _, report = _validate(tmp_path, "Month,#Passengers\n1949-01,112\n1949-02,118\n", min_rows=85)
    with pytest.raises(DataValidationError, match="need at least 85"):
        raise_for_report(report)


PANEL_HEADER = "id,name,Month,#Passengers\n"


def _panel_csv(tmp_path, rows: dict[str, list[str]], share: float = 0.5, min_rows: int = 3):
    lines = [f"{sid},Title {sid},{row}" for sid, series in rows.items() for row in series]
    path = tmp_path / "panel.csv"
    path.write_text(PANEL_HEADER + "\n".join(lines) + "\n")
    from pipeline.data.validate import check_csv

    return check_csv(path, load_config(overrides={"series_column": "id", "title_column": "name",
                                                  "max_quarantine_share": share}), min_rows=min_rows)


GOOD = ["1949-01,112", "1949-02,118", "1949-03,132", "1949-04,129"]


def test_a_panel_quarantines_bad_series_with_their_reason_and_keeps_the_others(tmp_path):
    rows = {"a": GOOD, "b": [*GOOD[:1], "1949-02,-4", *GOOD[2:]], "c": GOOD[:2] + GOOD[3:], "d": GOOD[:3],
            "e": GOOD, "f": GOOD, "g": [*GOOD[:2], "1949-03,n/a", *GOOD[3:]], "h": GOOD[:2]}
    panel, report = _panel_csv(tmp_path, rows, share=0.7)
    assert report["status"] == "passed" and panel.ids == ["a", "e", "f"] and panel.titles[0] == "Title a"
    reasons = {q["series"]: q["reason"] for q in report["quarantine"]}
    assert reasons == {"b": "value -4 is not positive", "c": "missing month(s) 1949-03 before 1949-04",
                       "d": "the series ends at 1949-03, before the panel's last month 1949-04 (no recent data)",
                       "g": "missing value (null)", "h": "2 data rows, need at least 3 (months the model reads + "
                       "output months + validation windows + holdout or backtest months)"}
    assert report["series"] == {"in": 8, "quarantined": 5, "kept": 3}
    assert {q["series"]: q["row"] for q in report["quarantine"]}["b"] == 7  # the file's row
    assert panel.values.tolist() == [112, 118, 132, 129] * 3


def test_too_many_quarantined_series_fail_the_run_naming_the_first(tmp_path):
    rows = {"a": GOOD, "b": [*GOOD[:1], "1949-02,0", *GOOD[2:]], "c": [*GOOD[:1], "1949-02,x", *GOOD[2:]]}
    _, report = _panel_csv(tmp_path, rows, share=0.5)
    assert report["status"] == "failed"
    with pytest.raises(DataValidationError, match=r"value 0 is not positive .*\(2 of 3 series quarantined, over "
                                                  r"the 50% allowed\)") as info:
        raise_for_report(report)
    assert (info.value.row, info.value.column) == (7, "#Passengers")


def test_a_flat_series_is_quarantined(tmp_path):
    flat = [f"{1949 + i // 12}-{i % 12 + 1:02d},100" for i in range(30)]
    varied = [f"{1949 + i // 12}-{i % 12 + 1:02d},{100 + i}" for i in range(30)]
    panel, report = _panel_csv(tmp_path, {"flat": flat, "ok": varied}, share=0.5)
    assert panel.ids == ["ok"] and "no change to scale errors by" in report["quarantine"][0]["reason"]
