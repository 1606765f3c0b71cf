"""The forecast-versus-actual report: earlier months' published forecasts against the data of the month announced."""

import pandas as pd
import pytest

from pipeline import settings
from pipeline.data.panel import Panel
from pipeline.ops import forecast_table as ft
from pipeline.steps.report import forecast_report
from pipeline.workspace import RunPaths, forecast_reports

EXPERIMENT = "lstm-monthly-retraining"


def publish(data_month: str, forecasts: dict[str, list[float]], first: str) -> ft.Publication:
    months = pd.period_range(first, periods=len(next(iter(forecasts.values()))), freq="M").strftime("%Y-%m")
    table = pd.DataFrame([{"series": sid, "month": month, "forecast": value, "model": "lstm",
                           "lower_80": value - 5, "upper_80": value + 5}
                          for sid, values in forecasts.items() for month, value in zip(months, values, strict=True)])
    return ft.publish(settings.forecast_db_url(), table,
                      ft.Publication(EXPERIMENT, data_month, "1", f"run-{data_month}", f"dag/{data_month}"))


def test_a_month_whose_work_folder_is_gone_fails_clearly(state):
    from pipeline.errors import NotFoundError

    gone = publish("1960-12", {"A": [1.0]}, "1961-01")
    with pytest.raises(NotFoundError, match=r"validated data of run dag/1960-12 .* is gone: re-run its month"):
        forecast_report(gone.to_json())


def test_a_published_month_reports_the_earlier_forecasts_against_its_data(state):
    assert forecast_report() is None, "nothing published yet"
    publish("1960-10", {"A": [100.0, 110.0, 120.0], "B": [50.0, 50.0, 50.0]}, "1960-11")
    publish("1960-11", {"A": [108.0, 130.0, 140.0], "B": [52.0, 52.0, 52.0]}, "1960-12")
    latest = publish("1960-12", {"A": [1.0, 1.0, 1.0], "B": [1.0, 1.0, 1.0]}, "1961-01")
    actual = {"A": [90.0, 100.0, 100.0, 100.0], "B": [40.0, 50.0, 50.0, 60.0]}  # 1960-09 .. 1960-12
    frame = pd.DataFrame([{"series": sid, "month": f"1960-{9 + k:02d}", "value": v}
                          for sid, values in actual.items() for k, v in enumerate(values)])
    Panel.from_frame(frame).save(RunPaths.of(latest.run_key).panel)  # the validated data of the announcing run

    path = forecast_report(latest.to_json())
    report = pd.read_csv(path)
    assert report[["data_month", "lead", "compared"]].values.tolist() == [
        ["1960-10", 1, 2], ["1960-10", 2, 2], ["1960-11", 1, 2]]  # the months that arrived by 1960-12
    lead2 = report.iloc[1]  # 1960-12: A 110 for 100, B 50 for 60
    assert lead2["wape"] == pytest.approx(100 * 20 / 160) and lead2["bias"] == pytest.approx(0.0)
    assert lead2["coverage_80"] == pytest.approx(0.0)
    text = (forecast_reports(EXPERIMENT) / "1960-12.md").read_text()
    assert "| 1960-10 | 1-2 | 4 |" in text and "| 1960-11 | 1-1 | 2 |" in text
    # by hand (no event): the latest published month
    assert forecast_report() == path
