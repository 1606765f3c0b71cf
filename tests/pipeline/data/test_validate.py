import pytest

from pipeline.config import load_config
from pipeline.data.ingest import ingest, read_snapshot
from pipeline.data.validate import raise_for_report, validate
from pipeline.errors import DataValidationError
from tests.conftest import DATA


def _validate(tmp_path, text: str, min_months: int = 1, **settings):
    path = tmp_path / "in.csv"
    path.write_text(text)
    cfg = load_config(overrides=settings)
    snap = ingest(path, tmp_path / "s.npz", cfg)
    return validate(read_snapshot(snap.path), cfg, min_months)


def test_bundled_data_passes_with_the_article_checks(tmp_path):
    snap = ingest(DATA, tmp_path / "s.npz", load_config())
    panel, report = validate(read_snapshot(snap.path), load_config(), 85)
    series = panel.series(0)
    assert report["status"] == "passed" and report["errors"] == [] and panel.ids == ["AirPassengers"]
    assert report["shape"] == [144, 2]
    assert report["null_counts"] == {"Month": 0, "#Passengers": 0}
    assert report["head"][0] == {"Month": "1949-01", "#Passengers": 112.0}
    assert len(series) == 144 and series.sum() == 40363
    assert report["profile"]["max"] == 622 and report["profile"]["first_month"] == "1949-01"
    assert report["profile"]["seasonal_index"]["7"] > 1.1  # July is a peak month
    assert report["value_domain"] == {"setting": "auto", "domain": "positive",
                                      "series": {"positive": 1, "nonnegative": 0, "real": 0}}
    assert report["anomalies"] == [] and report["flat"]["series"] == 0


@pytest.mark.parametrize("rows, row, message", [
    ("1949-01,112\n1949-02,\n", 3, "missing value"),
    ("1949-01,112\n1949-02,abc\n", 3, "not a number"),
    ("1949-01,112\n1949-02,\"1,200\"\n", 3, "thousands separators"),
    ("1949-01,112\n1949-02,inf\n", 3, "infinite"),
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


@pytest.mark.parametrize("domain, value, message", [
    ("positive", "0", "value 0 is not positive \\(value_domain positive\\)"),
    ("positive", "-5", "value -5 is not positive"),
    ("nonnegative", "-0.5", "value -0.5 is negative \\(value_domain nonnegative\\)"),
])
def test_a_value_outside_a_declared_domain_is_refused_naming_row_and_column(tmp_path, domain, value, message):
    text = f"Month,#Passengers\n1949-01,112\n1949-02,{value}\n1949-03,130\n"
    _, report = _validate(tmp_path, text, value_domain=domain)
    with pytest.raises(DataValidationError, match=message) as info:
        raise_for_report(report)
    assert (info.value.row, info.value.column) == (3, "#Passengers")


@pytest.mark.parametrize("values, domain, kind", [
    ([112, 0, 130, 0, 140], "nonnegative", "nonnegative"),  # months without sales
    ([-0.39, 2.5, 8.1, -3.2, 12.0], "real", "real"),  # degrees Celsius
    ([5.0, 0.0, -2.0, 3.0, 1.0], "real", "real"),
])
def test_zeros_and_negative_values_are_data_not_errors(tmp_path, values, domain, kind):
    text = "Month,#Passengers\n" + "".join(f"1949-{m + 1:02d},{v}\n" for m, v in enumerate(values))
    panel, report = _validate(tmp_path, text)
    assert report["status"] == "passed" and panel.values.tolist() == values
    assert report["value_domain"]["domain"] == domain and report["value_domain"]["series"][kind] == 1
    _, declared = _validate(tmp_path, text, value_domain=domain)
    assert declared["status"] == "passed"


def test_auto_reports_a_lone_negative_month_of_a_positive_series(tmp_path):
    values = [112 + m for m in range(40)]
    values[17] = -118  # a sign typed by mistake
    text = "Month,#Passengers\n" + "".join(f"{1949 + m // 12}-{m % 12 + 1:02d},{v}\n" for m, v in enumerate(values))
    _, report = _validate(tmp_path, text)
    assert report["status"] == "passed" and report["value_domain"]["domain"] == "real"
    (anomaly,) = report["anomalies"]
    assert (anomaly["row"], anomaly["column"], anomaly["value"]) == (19, "#Passengers", -118.0)
    assert "a typo? Set value_domain: positive to refuse it" in anomaly["message"]
    assert anomaly["message"] in report["warnings"]
    _, refused = _validate(tmp_path, text, value_domain="positive")
    with pytest.raises(DataValidationError, match="value -118 is not positive") as info:
        raise_for_report(refused)
    assert info.value.row == 19


def test_null_counts_are_reported_like_the_article(tmp_path):
    _, report = _validate(tmp_path, "Month,#Passengers\n1949-01,112\n1949-02,\n1949-03,NaN\n")
    assert report["null_counts"]["#Passengers"] == 2
    assert len(report["errors"]) == 2


def test_unsorted_rows_are_sorted_and_reported(tmp_path):
    panel, report = _validate(tmp_path, "Month,#Passengers\n1949-02,118\n1949-01,112\n1949-03,132\n")
    assert report["status"] == "passed"
    assert panel.values.tolist() == [112, 118, 132]
    assert any("sorted" in fix for fix in report["fixes"])


def test_a_single_series_too_short_to_score_fails_naming_its_last_row(tmp_path):
    _, report = _validate(tmp_path, "Month,#Passengers\n1949-01,112\n1949-02,118\n", min_months=85)
    with pytest.raises(DataValidationError, match=r"2 data rows, need at least 85 \(min_series_months\)") as info:
        raise_for_report(report)
    assert (info.value.row, info.value.column) == (3, "Month")


PANEL_HEADER = "id,name,Month,#Passengers\n"


def _panel_csv(tmp_path, rows: dict[str, list[str]], share: float = 0.5, min_months: int = 3, **settings):
    lines = [f"{sid},Title {sid},{row}" for sid, series in rows.items() for row in series]
    path = tmp_path / "panel.csv"
    path.write_text(PANEL_HEADER + "\n".join(lines) + "\n")
    from pipeline.data.validate import check_csv

    return check_csv(path, load_config(overrides={"series_column": "id", "title_column": "name",
                                                  "max_quarantine_share": share, **settings}), min_months=min_months)


GOOD = ["1949-01,112", "1949-02,118", "1949-03,132", "1949-04,129"]


def test_a_panel_quarantines_bad_series_with_their_reason_and_keeps_the_others(tmp_path):
    rows = {"a": GOOD, "b": [*GOOD[:1], "1949-02,-4", *GOOD[2:]], "c": GOOD[:2] + GOOD[3:], "d": GOOD[:3],
            "e": GOOD, "f": GOOD, "g": [*GOOD[:2], "1949-03,n/a", *GOOD[3:]], "h": GOOD[:2]}
    panel, report = _panel_csv(tmp_path, rows, share=0.5, value_domain="positive", inactive_after=1)
    assert report["status"] == "passed" and panel.ids == ["a", "e", "f"] and panel.titles[0] == "Title a"
    reasons = {q["series"]: q["reason"] for q in report["quarantine"]}
    assert reasons == {"b": "value -4 is not positive (value_domain positive)",
                       "c": "missing month(s) 1949-03 before 1949-04", "g": "missing value (null)"}
    assert {q["series"]: q["row"] for q in report["quarantine"]}["b"] == 7  # the file's row
    # too short, or inactive: reported, left out, and not counted against max_quarantine_share (3 of 8 < 50 %)
    assert [(s["series"], s["months"]) for s in report["short"]] == [("h", 2)]
    assert [(s["series"], s["last_month"]) for s in report["inactive"]] == [("d", "1949-03")]
    assert "inactive_after 1" in report["inactive"][0]["reason"]
    assert report["series"] == {"in": 8, "quarantined": 3, "inactive": 1, "short": 1, "kept": 3}
    assert panel.values.tolist() == [112, 118, 132, 129] * 3


def test_a_series_that_ended_recently_is_kept_and_none_is_inactive_with_series_end_folds(tmp_path):
    rows = {"a": GOOD, "d": GOOD[:3], "e": GOOD}
    panel, report = _panel_csv(tmp_path, rows)  # inactive_after 12: d ended a month ago
    assert panel.ids == ["a", "d", "e"] and report["inactive"] == []
    panel, report = _panel_csv(tmp_path, rows, inactive_after=1, fold_alignment="series_end")
    assert panel.ids == ["a", "d", "e"] and report["inactive"] == []


def test_too_many_quarantined_series_fail_the_run_naming_the_first(tmp_path):
    rows = {"a": GOOD, "b": [*GOOD[:1], "1949-02,0", *GOOD[2:]], "c": [*GOOD[:1], "1949-02,x", *GOOD[2:]]}
    _, report = _panel_csv(tmp_path, rows, share=0.5, value_domain="positive")
    assert report["status"] == "failed"
    with pytest.raises(DataValidationError, match=r"value 0 is not positive .*\(2 of 3 series quarantined, over "
                                                  r"the 50% allowed\)") as info:
        raise_for_report(report)
    assert (info.value.row, info.value.column) == (7, "#Passengers")


def test_a_flat_series_is_kept_and_reported_as_forecast_by_rule(tmp_path):
    flat = [f"{1949 + i // 12}-{i % 12 + 1:02d},100" for i in range(30)]
    zeros = [f"{1949 + i // 12}-{i % 12 + 1:02d},0" for i in range(30)]
    varied = [f"{1949 + i // 12}-{i % 12 + 1:02d},{100 + i}" for i in range(30)]
    panel, report = _panel_csv(tmp_path, {"flat": flat, "ok": varied, "zeros": zeros}, share=0.0)
    assert panel.ids == ["flat", "ok", "zeros"] and report["quarantine"] == []
    assert report["flat"]["series"] == 2 and report["flat"]["ids"] == ["flat", "zeros"]
    assert "forecast by seasonal naive" in report["flat"]["rule"]
    assert report["value_domain"]["series"] == {"positive": 2, "nonnegative": 1, "real": 0}


def test_lone_nonpositive_months_are_found_in_one_pass_as_a_scan_of_each_series_would():
    import types

    import numpy as np

    from pipeline.data.validate import LONE_MONTHS, _lone_nonpositive

    def scan(series, rows, values, modelled, ids):  # the definition, series by series
        out = []
        for code in sorted(modelled):
            mine = np.flatnonzero(series == code)
            low = mine[values[mine] <= 0]
            if 0 < len(low) <= min(LONE_MONTHS, 0.05 * len(mine)):
                out += [(ids[code], int(rows[p]), float(values[p])) for p in low]
        return out

    rng = np.random.default_rng(1)
    for _ in range(100):
        n, m = int(rng.integers(1, 30)), int(rng.integers(1, 2000))
        series, rows = np.sort(rng.integers(0, n, m)), np.arange(m) + 2
        values = rng.normal(5, 2, m)
        values[rng.random(m) < 0.02] = np.nan
        ids = [f"s{i}" for i in range(n)]
        modelled = sorted(rng.choice(n, size=int(rng.integers(0, n + 1)), replace=False).tolist())
        found = _lone_nonpositive(series, rows, values, modelled, types.SimpleNamespace(ids=ids), "c")
        assert [(a["series"], a["row"], a["value"]) for a in found] == scan(series, rows, values, modelled, ids)
