"""Published forecasts against the months that have arrived since: what planners check before they trust the next
one (the forecast-versus-actual report, :func:`pipeline.steps.report.forecast_report`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipeline.ops.forecast_table import bound_columns

KEY = ["data_month", "lead"]


def _month_number(months: pd.Series) -> np.ndarray:
    text = months.astype(str)
    return text.str[:4].astype(int).to_numpy() * 12 + text.str[5:7].astype(int).to_numpy()


def versus_actuals(forecasts: pd.DataFrame, actuals: pd.DataFrame, by: Sequence[str] = KEY) -> pd.DataFrame:
    """One row a data month (the forecast's origin) and lead (months ahead, 1 = the month after it), or a group of
    ``by``, over the series whose actual month has arrived: the leads (without ``lead`` in ``by``), how many
    series-months were compared, WAPE (absolute errors over absolute actuals, %),
    MAPE (%, over non-zero actuals), bias (errors over absolute actuals, %: above 0, forecasts too high) and each
    interval's coverage (``coverage_80``: share of actuals inside; empty where no interval was published).

    ``forecasts``: rows of the forecast table (series, month, data_month, forecast, bounds); ``actuals``: series,
    month, value."""
    joined = forecasts.merge(actuals[["series", "month", "value"]], on=["series", "month"], how="inner")
    value, error = joined["value"].to_numpy(float), (joined["forecast"] - joined["value"]).to_numpy(float)
    levels = sorted({int(name.split("_")[1]) for name in bound_columns(list(joined.columns))})
    frame = pd.DataFrame({
        "data_month": joined["data_month"].astype(str),
        "lead": _month_number(joined["month"]) - _month_number(joined["data_month"]),
        "abs_error": np.abs(error), "error": error, "abs_actual": np.abs(value),
        "ape": np.divide(np.abs(error), np.abs(value), out=np.full(len(value), np.nan), where=value != 0),
        **{f"coverage_{level}": _inside(joined, level) for level in levels}})
    grouped = frame.groupby(list(by), sort=True)
    out = grouped.size().rename("compared").to_frame()
    if "lead" not in by:
        out["leads"] = grouped["lead"].min().astype(str) + "-" + grouped["lead"].max().astype(str)
    totals = grouped[["abs_error", "error", "abs_actual"]].sum()
    out["wape"] = 100 * totals["abs_error"] / totals["abs_actual"].replace(0, np.nan)
    out["mape"] = 100 * grouped["ape"].mean()
    out["bias"] = 100 * totals["error"] / totals["abs_actual"].replace(0, np.nan)
    for level in levels:
        out[f"coverage_{level}"] = grouped[f"coverage_{level}"].mean()
    return out.reset_index()


def _inside(joined: pd.DataFrame, level: int) -> np.ndarray:
    """1 where the actual lies within the level's interval, 0 outside, NaN where none was published."""
    lower = pd.to_numeric(joined[f"lower_{level}"], errors="coerce").to_numpy(float)
    upper = pd.to_numeric(joined[f"upper_{level}"], errors="coerce").to_numpy(float)
    value = joined["value"].to_numpy(float)
    inside = ((lower <= value) & (value <= upper)).astype(float)
    inside[np.isnan(lower) | np.isnan(upper)] = np.nan
    return inside
