"""Forecast accuracy benchmark: rolling-origin backtests of the LSTM presets and the statistical baselines.

Reproduces the AirPassengers table of issue 3 (three origins: training ends 1957-12, 1958-12, 1959-12; 12 months
forecast from each) and adds the project's rows, measured in one run, then checks the default configuration on
other real monthly series (shipped with statsmodels, a dependency of the ``stats`` extra: euro-area electrical
equipment orders, Mauna Loa CO2 as monthly means, El Nino sea surface temperatures) and on synthetic series of other
lengths, scales and seasonal shapes. AirPassengers LSTM rows: median over 3 seeds of the mean MAPE (per-fold values
from the median seed); other series: seed 42. Prints markdown tables.

    .venv/bin/python benchmarks/accuracy.py [--seeds 3] [--csv data/AirPassengers.csv]
"""

from __future__ import annotations

import argparse
import logging
import statistics
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import load_config
from pipeline.data.panel import Panel, single
from pipeline.scoring import fold_cache
from pipeline.scoring.backtest import LSTM, NAIVE, STATS_MODELS

ROOT = Path(__file__).resolve().parents[1]


def load(csv: Path) -> pd.Series:
    frame = pd.read_csv(csv)
    return pd.Series(frame.iloc[:, 1].to_numpy(float), index=pd.to_datetime(frame.iloc[:, 0]), name="value")


def synthetic(months: int, level: float, trend: float, amplitude: float, multiplicative: bool, seed: int) -> pd.Series:
    """A monthly series with trend, yearly seasonality (multiplicative or additive) and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(months)
    season = amplitude * (np.sin(2 * np.pi * t / 12) + 0.5 * np.cos(4 * np.pi * t / 12))
    base = level * (1 + trend) ** t
    values = base * (1 + season) if multiplicative else base + level * season
    values = values * (1 + 0.03 * rng.standard_normal(months))
    return pd.Series(values, index=pd.date_range("1990-01", periods=months, freq="MS"))


def real_series() -> dict[str, pd.Series]:
    """Other real monthly series of different length, scale and seasonality (from statsmodels' datasets)."""
    from statsmodels.datasets import co2, elec_equip, elnino

    orders = elec_equip.load().data.iloc[:, 0].astype(float)
    orders.index = pd.to_datetime(orders.index)
    carbon = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()  # weekly -> monthly, 5 gaps filled
    sea = elnino.load_pandas().data.set_index("YEAR")
    sea = pd.Series(sea.to_numpy(float).ravel(), index=pd.date_range(f"{int(sea.index[0])}-01", periods=sea.size,
                                                                          freq="MS"))
    return {f"electrical equipment orders (EU), {len(orders)} months": orders,
            f"CO2 at Mauna Loa (ppm), {len(carbon)} months": carbon,
            f"El Nino sea surface temperature (C), {len(sea)} months": sea}


def baseline_rows(summary: dict) -> list[dict]:
    """Seasonal naive and (when scored) the statsforecast models, from a backtest summary, best first."""
    names = [name for name in (*STATS_MODELS, NAIVE) if name in summary["mean"]]
    rows = [{"model": name.replace("_", " "), "folds": [f[name]["mape"] for f in summary["per_fold"]],
             "mape": summary["mean"][name]["mape"], "mase": summary["mean"][name]["mase"],
             "intervals": _intervals(summary["mean"][name])} for name in names]
    return sorted(rows, key=lambda r: r["mape"])


def _intervals(scores: dict) -> str:
    """Coverage of the 80 % and 95 % intervals and their interval score (MSIS at 95 %), as table cells."""
    if "coverage_95" not in scores:
        return " | | "
    return f"{scores['coverage_80']:.0%} | {scores['coverage_95']:.0%} | {scores['msis_95']:.2f}"


def backtest(series: pd.Series, cfg, stats_baselines: bool = False) -> dict:
    """The pipeline's backtest of one series (a panel of one)."""
    panel: Panel = single(series.asfreq("MS"))
    return fold_cache.backtest(panel, cfg, stats_baselines)


def lstm_row(series: pd.Series, preset: str, seeds: int, label: str = "", stats: bool = False,
             **overrides) -> dict:
    """Backtest a preset with several seeds (and the baselines beside it); keep the median seed's folds."""
    runs = []
    for seed in range(42, 42 + seeds):
        cfg = load_config(overrides={"preset": preset, "seed": seed, **overrides})
        summary = backtest(series, cfg, stats_baselines=stats)
        runs.append((summary["mean"][LSTM]["mape"], summary))
    runs.sort(key=lambda r: r[0])
    _, summary = runs[len(runs) // 2]
    return {"model": f"LSTM `{preset}`{label}", "folds": [f[LSTM]["mape"] for f in summary["per_fold"]],
            "mape": statistics.median(r[0] for r in runs), "mase": summary["mean"][LSTM]["mase"],
            "intervals": _intervals(summary["mean"][LSTM]),
            "naive_folds": [f[NAIVE]["mape"] for f in summary["per_fold"]],
            "train_s": summary["train_seconds_mean"], "seeds": [round(r[0], 2) for r in runs], "summary": summary}


def table(rows: list[dict]) -> str:
    out = ["| model | fold 1 MAPE % | fold 2 | fold 3 | mean MAPE % | MASE | beats naive every fold | train s/fold "
           "| 80 % coverage | 95 % coverage | MSIS |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        beats = ""
        if "naive_folds" in r:
            lost = [str(i) for i, (a, b) in enumerate(zip(r["folds"], r["naive_folds"], strict=True), 1) if a >= b]
            beats = f"no (fold {', '.join(lost)})" if lost else "yes"
        train = f"{r['train_s']:.1f}" if "train_s" in r else ""
        folds = " | ".join(f"{v:.2f}" for v in r["folds"])
        out.append(f"| {r['model']} | {folds} | {r['mape']:.2f} | {r['mase']:.2f} | {beats} | {train} | "
                   f"{r.get('intervals', ' | | ')} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", type=Path, default=ROOT / "data" / "AirPassengers.csv")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    series = load(args.csv)
    default = lstm_row(series, "lstm-direct", args.seeds, " (default)", stats=True)
    rows = baseline_rows(default["summary"])
    lstm = [lstm_row(series, preset, args.seeds) for preset in ("pytorch-seed", "keras-seed")]
    lstm.append(lstm_row(series, "lstm-direct", args.seeds, ", relative view only", seasonal_lookback=0))
    lstm.append(lstm_row(series, "lstm-direct", args.seeds, ", year-over-year view only", lookback=0))
    lstm.append(default)
    print(f"## {args.csv.name}: 3 rolling origins, 12 months each ({args.seeds} seeds per LSTM row)\n")
    print(table(rows + lstm))
    print("\nLSTM mean MAPE per seed: " + "; ".join(f"{r['model']}: {r['seeds']}" for r in lstm))

    print("\n## Other real monthly series (default configuration, seed 42; last 3 years as folds)")
    for name, data in real_series().items():
        print(f"\n### {name}\n")
        row = lstm_row(data, "lstm-direct", 1, " (default)", stats=True)
        print(table([*baseline_rows(row["summary"]), row]))

    cases = {"96 months, level 5000, +0.5 %/month, multiplicative": synthetic(96, 5000, 0.005, 0.2, True, 1),
             "180 months, level 20, +0.2 %/month, additive": synthetic(180, 20, 0.002, 0.3, False, 2),
             "120 months, level 800, flat, strong season": synthetic(120, 800, 0.0, 0.4, True, 3)}
    rows = []
    for name, data in cases.items():
        row = lstm_row(data, "lstm-direct", 1)
        naive = baseline_rows(row["summary"])[0]
        rows += [{**row, "model": f"LSTM default, {name}"}, {**naive, "model": f"{naive['model']}, {name}"}]
    print("\n## Synthetic monthly series (default configuration, seed 42)\n")
    print(table(rows))


if __name__ == "__main__":
    main()
