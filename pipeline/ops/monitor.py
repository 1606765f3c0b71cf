"""Monthly monitoring: how the champion did on the months that arrived since it was trained (live
performance), whether the newest months drifted from the history, and the run summary the ops team reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.data.panel import Panel
from pipeline.metrics import mase_scale, mean_defined, metrics_rows, series_level
from pipeline.months import month_text, parse_month

LIVE_COLUMNS = ("series", "position", "mape", "smape", "rmse", "mae", "mase")
BAND_MONTHS_LISTED = 10  # months outside the band listed in the monitor file


def live_performance(published: Any, panel: Panel, trained_to: str, season_length: int) -> dict[str, Any] | None:
    """Score the champion's forecast, made from its own last data month, on the months that came after it, for
    every series with such months: mean MAPE and MASE over the series, and the worst series.

    ``published`` forecasts a history panel (:class:`pipeline.ops.pyfunc.Published`). Returns None when no
    month arrived since (or no series has the history to forecast from). The same as :func:`live_rows` of the
    panel's parts put together by :func:`live_summary`.
    """
    return live_summary([live_rows(published, panel, range(len(panel)), panel.last_month, trained_to,
                                   season_length)], panel.last_month, trained_to)


def live_rows(published: Any, panel: Panel, positions: Sequence[int], last_month: int, trained_to: str,
              season_length: int) -> dict[str, Any]:
    """A part's share of :func:`live_performance`: the champion's scores on each series of ``panel`` (the series
    at ``positions`` of the whole panel, whose last month is ``last_month``) and each month it checked against
    its widest interval. Plain JSON but for the score table (``scores``, :data:`LIVE_COLUMNS`)."""
    cut = parse_month(trained_to) + 1
    months = last_month + 1 - cut
    empty = {"scores": pd.DataFrame(columns=list(LIVE_COLUMNS)), "band": None}
    if months < 1:
        return empty
    window, actual = panel.window(cut, months)
    history = panel.subset(window).cut(cut)
    keep = [i for i in range(len(history)) if history.length(i) > season_length]
    if not keep:
        return empty
    history, actual = history.subset(keep), actual[keep]
    table = published.forecast(history, months)
    forecast = table["forecast"].to_numpy(dtype=float).reshape(len(history), months)
    scores = metrics_rows(actual, forecast, np.array([mase_scale(h, season_length) for h in history]))
    at = [positions[window[i]] for i in keep]
    return {"scores": pd.DataFrame({"series": history.ids, "position": at, **scores})[list(LIVE_COLUMNS)],
            "band": band_counts(table, history, actual, cut, at)}


def live_summary(parts: Sequence[dict[str, Any]], last_month: int, trained_to: str) -> dict[str, Any] | None:
    """The live performance of the whole panel from its parts' :func:`live_rows` (in any order): the means over
    every series and the worst series in the panel's order, the interval's misses summed."""
    frames = [p["scores"] for p in parts if len(p["scores"])]
    if not frames:  # no month since, or no series with the history to forecast from
        return None
    table = pd.concat(frames, ignore_index=True).sort_values("position", kind="stable")
    cut = parse_month(trained_to) + 1
    scores = {k: table[k].to_numpy(dtype=float) for k in LIVE_COLUMNS[2:]}
    worst = np.argsort(-np.nan_to_num(scores["mase"], nan=-np.inf))[:5]
    ids = table["series"].tolist()
    return {"months": last_month + 1 - cut, "first": month_text(cut), "last": month_text(last_month),
            "trained_to": trained_to, "series": len(table), **{f"live_{k}": mean_defined(v) for k, v in scores.items()},
            "worst": [{"series": ids[i], "live_mape": float(scores["mape"][i]), "live_mase": float(scores["mase"][i])}
                      for i in worst],
            "band": outside_band([p["band"] for p in parts])}


def band_counts(table: pd.DataFrame, history: Panel, actual: np.ndarray, first: int, positions: Sequence[int]
                ) -> dict[str, Any] | None:
    """The months since the champion's data month checked against its widest prediction interval (of the levels
    it publishes bounds for): how many, how many fell outside, and the first of those (series, month, value,
    bounds, and the series' position in the whole panel). None when the champion publishes no intervals."""
    levels = sorted((int(c.removeprefix("lower_")) for c in table.columns if c.startswith("lower_")), reverse=True)
    levels = [level for level in levels if table[f"lower_{level}"].notna().any()]
    if not levels:
        return None
    level = levels[0]
    lower = table[f"lower_{level}"].to_numpy(dtype=float).reshape(actual.shape)
    upper = table[f"upper_{level}"].to_numpy(dtype=float).reshape(actual.shape)
    known = np.isfinite(lower) & np.isfinite(upper)
    outside = known & ((actual < lower) | (actual > upper))
    rows = [{"series": history.ids[i], "position": int(positions[i]), "month": month_text(first + j),
             "value": float(actual[i, j]), "lower": float(lower[i, j]), "upper": float(upper[i, j])}
            for i, j in zip(*np.nonzero(outside), strict=True)][:BAND_MONTHS_LISTED]
    return {"level": level, "outside": int(outside.sum()), "checked": int(known.sum()), "months": rows}



def outside_band(parts: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """How many of the months since the champion's data month fell outside its widest prediction interval, over
    the parts' :func:`band_counts`, and how probable that many is for a calibrated interval: the binomial tail
    P(X >= outside) at the interval's miss rate (None when the champion publishes no intervals)."""
    from scipy.stats import binom  # scipy.stats takes 0.7 s to import: only here

    known = [p for p in parts if p is not None]
    if not known:
        return None
    level = max(p["level"] for p in known)
    count, checked = sum(p["outside"] for p in known), sum(p["checked"] for p in known)
    miss = 1 - level / 100
    p_value = float(binom.sf(count - 1, checked, miss)) if count else 1.0
    rows = sorted((m for p in known for m in p["months"]), key=lambda m: m["position"])[:BAND_MONTHS_LISTED]
    return {"level": level, "outside": count, "checked": checked, "outside_share": count / checked,
            "expected_share": miss, "p_value": p_value,
            "months": [{k: v for k, v in m.items() if k != "position"} for m in rows]}


def panel_drift(panel: Panel, recent: int, season_length: int, level_z: float = 3.0,
                seasonal_corr: float = 0.8, value_domain: str = "auto") -> dict[str, Any]:
    """:func:`drift` of every series (in logs where the series is positive, by ``value_domain``); the panel
    drifted when more than half of its series did (:func:`drift_summary` of one part, the whole panel)."""
    return drift_summary([drift_rows(panel, range(len(panel)), recent, season_length, level_z, seasonal_corr,
                                     value_domain)], recent)


def drift_rows(panel: Panel, positions: Sequence[int], recent: int, season_length: int, level_z: float = 3.0,
               seasonal_corr: float = 0.8, value_domain: str = "auto") -> list[dict[str, Any]]:
    """A part's share of :func:`panel_drift`: :func:`drift` of each series of ``panel`` (the series at
    ``positions`` of the whole panel), with its id and position."""
    logs = domains.kinds(panel, value_domain) == domains.POSITIVE
    return [{"series": panel.ids[i], "position": int(positions[i]),
             **drift(panel.series(i), recent, season_length, level_z, seasonal_corr, bool(logs[i]))}
            for i in range(len(panel))]


def drift_summary(parts: Sequence[list[dict[str, Any]]], recent: int) -> dict[str, Any]:
    """The panel's drift from its parts' :func:`drift_rows` (in any order; ``recent`` months compared): a single
    series reads as its own check; a panel drifted when more than half of the series checked did."""
    rows = sorted((row for part in parts for row in part), key=lambda row: row["position"])
    checks = {row["series"]: {k: v for k, v in row.items() if k not in ("series", "position")} for row in rows}
    if len(rows) == 1:
        return next(iter(checks.values()))
    checked = {sid: c for sid, c in checks.items() if c["checked"]}
    if not checked:
        return {"checked": False, "reason": "no series is long enough to compare", "drift": False, "findings": []}
    drifted = [sid for sid, c in checked.items() if c["drift"]]
    findings = [f"{len(drifted)} of {len(checked)} series drifted"] if drifted else []
    findings += [f"{sid}: {'; '.join(checked[sid]['findings'])}" for sid in drifted[:5]]
    return {"checked": True, "recent_months": recent, "series": len(checked), "drifted": drifted,
            "level_z": float(np.median([c["level_z"] for c in checked.values()])),
            "seasonal_corr": float(np.median([c["seasonal_corr"] for c in checked.values()])),
            "drift": len(drifted) > len(checked) / 2, "findings": findings}


def drift(series: pd.Series, recent: int, season_length: int, level_z: float = 3.0,
          seasonal_corr: float = 0.8, log: bool = True) -> dict[str, Any]:
    """Compare the last ``recent`` months with the history before them, in logs (``log``: a positive series), or
    in values over the series' level (its mean absolute value: a series with zeros or negative values).

    - level and trend: year-over-year growth of the recent months against the history's distribution of
      year-over-year growth (a z-score);
    - seasonal profile: correlation of the recent months' seasonal shape (value against its 12-month mean) with
      the history's average shape for the same calendar months.
    """
    raw = series.to_numpy(dtype=float)
    values = np.log(raw) if log else raw / series_level(raw)
    n, m = len(values), season_length
    recent = max(1, min(recent, n - 2 * m))
    if n < 3 * m:
        return {"checked": False, "reason": f"{n} months are too few to compare", "drift": False, "findings": []}
    yoy = values[m:] - values[:-m]
    history_yoy, recent_yoy = yoy[: -recent], yoy[-recent:]
    z = float((recent_yoy.mean() - history_yoy.mean()) / (history_yoy.std(ddof=1) or 1e-9))
    growth = np.expm1 if log else (lambda change: change)  # a share of the level, without logs
    shape = values - pd.Series(values).rolling(m, center=True, min_periods=m // 2).mean().to_numpy()
    months = series.index.month.to_numpy()
    profile = pd.Series(shape[:-recent]).groupby(months[:-recent]).mean()
    k = min(recent, m)
    observed = shape[n - k:]
    expected = profile.reindex(months[n - k:]).to_numpy()
    spread = float(np.std(observed) * np.std(expected))
    corr = float(np.corrcoef(observed, expected)[0, 1]) if k >= 6 and spread > 0 else 1.0  # no verdict
    findings = []
    if abs(z) > level_z:
        findings.append(f"level/trend shift: year-over-year growth {growth(recent_yoy.mean()):+.1%} vs "
                        f"{growth(history_yoy.mean()):+.1%} in the history (z = {z:+.1f})")
    if corr < seasonal_corr:
        findings.append(f"seasonal profile changed: correlation {corr:.2f} with the history's profile")
    return {"checked": True, "recent_months": recent, "level_z": z, "seasonal_corr": corr,
            "recent_yoy_growth": float(growth(recent_yoy.mean())),
            "history_yoy_growth": float(growth(history_yoy.mean())),
            "drift": bool(findings), "findings": findings}


def figures(drift_found: dict[str, Any], live: dict[str, Any] | None) -> dict[str, float]:
    """The run metrics of the monitoring: drift statistics when checked, the champion's live scores and band."""
    out: dict[str, float] = {}
    if drift_found.get("checked"):
        out |= {"drift_level_z": drift_found["level_z"], "drift_seasonal_corr": drift_found["seasonal_corr"]}
    if live:
        out |= {"champion_live_mape": live["live_mape"], "champion_live_mase": live["live_mase"],
                "champion_live_months": float(live["months"])}
        if live["band"]:
            out |= {"champion_outside_band_share": live["band"]["outside_share"],
                    "champion_outside_band_p": live["band"]["p_value"]}
    return out


def _fmt(value: Any, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "n/a"


def _band(band: dict[str, Any] | None) -> str:
    if not band:
        return ""
    return (f"; {band['outside']} of {band['checked']} months outside its {band['level']} % interval "
            f"(p = {band['p_value']:.2g})")


def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "n/a"


def _domain_lines(s: dict[str, Any]) -> list[str]:
    """What the run inferred of the values (the value domain) and the series forecast by rule."""
    domain, flat_series = s.get("value_domain"), (s.get("flat") or {}).get("series", 0)
    if not domain:
        return []
    kinds = ", ".join(f"{domain['series'][kind]} {kind}" for kind in domains.KINDS if domain["series"].get(kind))
    lines = [f"- values: {domain['domain']} (value_domain {domain['setting']}; series: {kinds or 'none'})"
             + (f"; {len(s['anomalies'])} month(s) worth a look, listed below" if s.get("anomalies") else "")]
    if flat_series:
        lines.append(f"- {flat_series} series never change from year to year: forecast by seasonal naive")
    if s.get("alignment") == "series_end":
        lines.append("- backtest folds at each series' own last months (fold_alignment series_end)")
    return lines


def _lstm_adds(backtest: dict[str, Any]) -> list[str]:
    """What the LSTM adds to the published forecast: its backtest mean MASE with the LSTM's candidates and with the
    statistical ones only (none before folds scored both)."""
    with_lstm = (backtest.get("published") or {}).get("mase")
    without = (backtest.get("published_without_lstm") or {}).get("mase")
    if with_lstm is None or without is None or not without:
        return []
    return [f"- the LSTM's part: the published forecast's backtest mean MASE {with_lstm:.3f}, {without:.3f} without "
            f"the LSTM's candidates ({1 - with_lstm / without:+.1%} from the LSTM)"]


def summary_markdown(s: dict[str, Any]) -> str:
    """The run summary as markdown (MLflow run description, artifact and task log)."""
    d, champ = s["decision"], s["decision"].get("champion") or {}
    n = s["series"]
    backtest, median = s.get("backtest") or {}, s.get("median_mase") or {}
    lines = [
        f"## {s['dag_id']} — data to {s['data_month']} — {'PROMOTED' if d['promoted'] else 'not promoted'}",
        "",
        f"- run: `{s['run_key']}`; data: {s['data_rows']} rows, {s['months_added']} month(s) new since the last run "
        f"({s.get('previous_data_month') or 'no earlier run'})",
        f"- series: {n['in']} in, {n['quarantined']} quarantined, {n.get('inactive', 0)} inactive, "
        f"{n.get('short', 0)} too short, {n['kept']} modelled",
        *(["- forecast by (the candidate best on each series' backtest): "
           + ", ".join(f"{model} {count} ({count / max(1, sum(s['served'].values())):.0%})"
                       for model, count in s["served"].items())] if s.get("served") else []),
        *_lstm_adds(backtest),
        f"- validation: {s['validation']['status']}; fixes: {', '.join(s['validation']['fixes']) or 'none'}",
        *_domain_lines(s),
        *([f"- model settings: tuned_config latest, {s['tuned']}"] if s.get("tuned") else []),
        *([f"- warm start: {s['fits']['warm']} of {s['fits']['total']} fits started from last month's weights "
           "(the others cold)"] if s.get("warm_start") and s.get("fits") else []),
        "",
        "| | candidate | champion | seasonal naive |",
        "|---|---|---|---|",
        f"| backtest mean MASE | {_fmt(d['candidate']['backtest_mase'], 4)} | {_fmt(champ.get('backtest_mase'), 4)} | "
        f"{_fmt(d['baseline_backtest_mase'], 4)} |",
        f"| backtest median MASE | {_fmt(median.get('lstm'), 4)} | | {_fmt(median.get('seasonal_naive'), 4)} |",
        f"| backtest mean MAPE % | {_fmt((backtest.get('lstm') or {}).get('mape'))} | | "
        f"{_fmt((backtest.get('seasonal_naive') or {}).get('mape'))} |",
        f"| holdout mean MASE | {_fmt(d['candidate']['holdout_mase'], 4)} | {_fmt(champ.get('holdout_mase'), 4)} | "
        f"{_fmt(s['metrics'].get('baseline_mase'), 4)} |",
        f"| holdout mean MAPE % | {_fmt(s['metrics'].get('holdout_mape'))} | | "
        f"{_fmt(s['metrics'].get('baseline_mape'))} |",
    ]
    lstm, naive = backtest.get("lstm") or {}, backtest.get("seasonal_naive") or {}
    for level in sorted(int(k.removeprefix("coverage_")) for k in lstm if k.startswith("coverage_")):
        lines += [f"| backtest {level} % interval coverage | {_pct(lstm.get(f'coverage_{level}'))} | | "
                  f"{_pct(naive.get(f'coverage_{level}'))} |",
                  f"| backtest interval score (MSIS) at {level} % | {_fmt(lstm.get(f'msis_{level}'))} | | "
                  f"{_fmt(naive.get(f'msis_{level}'))} |"]
        if s["metrics"].get(f"holdout_coverage_{level}") is not None:
            lines.append(f"| holdout {level} % interval coverage | {_pct(s['metrics'][f'holdout_coverage_{level}'])} "
                         "| | |")
    lines.append("")
    lines += [f"- share of series-folds where the LSTM beats {key.removeprefix('share_beats_')}: {value:.0%}"
              for key, value in (s.get("shares") or {}).items()]
    lines += [
        f"- live: champion v{s['live'].get('version', '?')} on {s['live'].get('months', 0)} month(s) since "
        f"{s['live'].get('trained_to', '?')}: mean MAPE {_fmt(s['live'].get('live_mape'))} % over "
        f"{s['live'].get('series', 1)} series{_band(s['live'].get('band'))}" if s.get("live")
        else "- live: no champion or no new month to score",
        f"- drift: {'; '.join(s['drift']['findings']) or 'none'}"
        if s["drift"].get("checked") else f"- drift: not checked ({s['drift'].get('reason')})",
        f"- decision: v{d['candidate_version']} {'promoted' if d['promoted'] else 'not promoted'} — {d['reason']}",
        f"- published: the forecast of v{s['published_version']}" + (
            f" ({', '.join(f'{count} series by {model}' for model, count in s['published_models'].items())})"
            if s.get("published_models") else "") if s.get("published_version")
        else "- published: nothing (no champion)",
        *([f"- MLflow: [this run]({s['mlflow_links']['run']}), [the months' training runs]"
           f"({s['mlflow_links']['runs']})"] if s.get("mlflow_links") else []),
    ]
    for key, heading in (("quarantine", "Quarantined series"), ("inactive", "Inactive series (not forecast)"),
                         ("short", "Series too short to model"), ("anomalies", "Accepted, but worth a look")):
        if s.get(key):
            lines += ["", f"{heading}:", ""] + [f"- {item['message']}" if key == "anomalies" else
                                                f"- {item['series']}: {item['reason']}" for item in s[key]]
    if len(s.get("worst") or []) > 1:
        lines += ["", "The worst series (backtest mean MASE):", "", "| series | title | LSTM | seasonal naive | "
                  "published |", "|---|---|---|---|---|"]
        lines += [f"| {w['series']} | {str(w['title'])[:40]} | {_fmt(w['lstm.mase'], 3)} | "
                  f"{_fmt(w['seasonal_naive.mase'], 3)} | {w['model']} |"
                  for w in s["worst"]]
    return "\n".join(lines) + "\n"
