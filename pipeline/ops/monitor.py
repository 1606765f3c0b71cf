"""Monthly monitoring: how the champion did on the months that arrived since it was trained (live
performance), whether the newest months drifted from the history, and the run summary the ops team reads."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipeline.scoring.evaluate import Predict, mase_scale, metrics, recursive_forecast


def live_performance(predict: Predict, lookback: int, series: pd.Series, trained_to: str,
                     season_length: int) -> dict[str, Any] | None:
    """Score the champion's forecast, made from its own last data month, on the months that came after it.

    Returns None when no month arrived since (or the history is too short to forecast from).
    """
    cut = pd.Timestamp(f"{trained_to}-01")
    history, new = series[series.index <= cut], series[series.index > cut]
    if new.empty or len(history) < max(lookback, season_length + 1):
        return None
    forecast = recursive_forecast(predict, history.to_numpy(dtype=float), len(new), lookback)
    scores = metrics(new.to_numpy(dtype=float), forecast, mase_scale(history.to_numpy(dtype=float), season_length))
    return {"months": len(new), "first": f"{new.index[0]:%Y-%m}", "last": f"{new.index[-1]:%Y-%m}",
            "trained_to": trained_to, **{f"live_{k}": v for k, v in scores.items()}}


def drift(series: pd.Series, recent: int, season_length: int, level_z: float = 3.0,
          seasonal_corr: float = 0.8) -> dict[str, Any]:
    """Compare the last ``recent`` months with the history before them.

    - level and trend: year-over-year log growth of the recent months against the history's distribution of
      year-over-year growth (a z-score);
    - seasonal profile: correlation of the recent months' seasonal shape (value over its 12-month mean) with
      the history's average shape for the same calendar months.
    """
    values = np.log(series.to_numpy(dtype=float))
    n, m = len(values), season_length
    recent = max(1, min(recent, n - 2 * m))
    if n < 3 * m:
        return {"checked": False, "reason": f"{n} months are too few to compare", "drift": False, "findings": []}
    yoy = values[m:] - values[:-m]
    history_yoy, recent_yoy = yoy[: -recent], yoy[-recent:]
    z = float((recent_yoy.mean() - history_yoy.mean()) / (history_yoy.std(ddof=1) or 1e-9))
    shape = values - pd.Series(values).rolling(m, center=True, min_periods=m // 2).mean().to_numpy()
    months = series.index.month.to_numpy()
    profile = pd.Series(shape[:-recent]).groupby(months[:-recent]).mean()
    k = min(recent, m)
    observed = shape[n - k:]
    expected = profile.reindex(months[n - k:]).to_numpy()
    corr = float(np.corrcoef(observed, expected)[0, 1]) if k >= 6 else 1.0  # too few months: no verdict
    findings = []
    if abs(z) > level_z:
        findings.append(f"level/trend shift: year-over-year growth {np.expm1(recent_yoy.mean()):+.1%} vs "
                        f"{np.expm1(history_yoy.mean()):+.1%} in the history (z = {z:+.1f})")
    if corr < seasonal_corr:
        findings.append(f"seasonal profile changed: correlation {corr:.2f} with the history's profile")
    return {"checked": True, "recent_months": recent, "level_z": z, "seasonal_corr": corr,
            "recent_yoy_growth": float(np.expm1(recent_yoy.mean())),
            "history_yoy_growth": float(np.expm1(history_yoy.mean())),
            "drift": bool(findings), "findings": findings}


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def summary_markdown(s: dict[str, Any]) -> str:
    """The run summary as markdown (MLflow run description, artifact and task log)."""
    d, champ = s["decision"], s["decision"].get("champion") or {}
    lines = [
        f"## {s['dag_id']} — data to {s['data_month']} — {'PROMOTED' if d['promoted'] else 'not promoted'}",
        "",
        f"- run: `{s['run_key']}`; data: {s['data_rows']} months, {s['months_added']} new since the last run "
        f"({s.get('previous_data_month') or 'no earlier run'})",
        f"- validation: {s['validation']['status']}; fixes: {', '.join(s['validation']['fixes']) or 'none'}",
        "",
        "| | candidate | champion | seasonal naive |",
        "|---|---|---|---|",
        f"| backtest mean MAPE % | {_fmt(d['candidate']['backtest_mape'])} | {_fmt(champ.get('backtest_mape'))} | "
        f"{_fmt(d['baseline_backtest_mape'])} |",
        f"| holdout MAPE % | {_fmt(d['candidate']['holdout_mape'])} | {_fmt(champ.get('holdout_mape'))} | "
        f"{_fmt(s['metrics']['baseline_mape'])} |",
        "",
        f"- live: champion v{s['live'].get('version', '?')} on {s['live'].get('months', 0)} month(s) since "
        f"{s['live'].get('trained_to', '?')}: MAPE {_fmt(s['live'].get('live_mape'))} %"
        if s.get("live") else "- live: no champion or no new month to score",
        f"- drift: {'; '.join(s['drift']['findings']) or 'none'}"
        if s["drift"].get("checked") else f"- drift: not checked ({s['drift'].get('reason')})",
        f"- decision: v{d['candidate_version']} {'promoted' if d['promoted'] else 'not promoted'} — {d['reason']}",
    ]
    return "\n".join(lines) + "\n"
