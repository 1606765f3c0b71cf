"""The LSTM's experiment harness: one design of the network's inputs and outputs, backtested alone on every
development set, the statistical peers computed once and cached, one row per design.

A design is a set of model settings (``DESIGNS``) applied to every development set on top of the set's preset
(``lstm-global`` for the panels, ``lstm-direct`` for the single series):

- **M1 monthly** (617 series, h=18): two origins; the last is the competition's split and is scored, the first lets
  the published forecast choose each series' candidate on earlier months only;
- **US employment** (147 series): three origins x 12 months, every fold scored;
- **AirPassengers** and the **real single series of** ``benchmarks/accuracy.py`` (electrical equipment orders,
  Mauna Loa CO2, El Nino): three origins x 12 months each.

Each cell is a mean MASE (in-sample seasonal-naive scale, m=12); the single series' column is the geometric mean of
the LSTM's MASE over AutoETS's (below 1: better than AutoETS). The peers (AutoETS, AutoCES, Dynamic Optimized Theta,
AutoARIMA and their median, SCUM) are fitted once per set and origin and cached in ``.cache/experiments``; so is
every design's result (same design, data and code: read back). Every design's row is appended to
``benchmarks/experiments.jsonl`` (``--table`` prints the rows recorded there).

    .venv/bin/python benchmarks/experiments.py [DESIGN ...] [--sets m1,us_employment,...] [--list] [--table]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import Config, load_config  # noqa: E402
from pipeline.data.panel import Panel, single  # noqa: E402
from pipeline.data.validate import check_csv, raise_for_report  # noqa: E402
from pipeline.metrics import LSTM, mase_scale, metrics_rows  # noqa: E402
from pipeline.months import month_starts  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402
from pipeline.scoring.fold_cache import _code_digest  # noqa: E402

CACHE = ROOT / ".cache" / "experiments"
RECORD = ROOT / "benchmarks" / "experiments.jsonl"  # every design's result, as measured (docs/experiments.md)
PEERS = ("AutoETS", "AutoCES", "DynamicOptimizedTheta", "AutoARIMA")
SCUM = "SCUM"  # the median of the four peers (Petropoulos & Svetunkov 2020)

PANEL_ONLY = "panel_only"  # a design's settings for the panels only (the single series' preset trains otherwise)
# What the presets held before these experiments, where they differ from today's: each design states them, so that
# it measures again what it measured then whatever the presets become.
BEFORE = {"output_steps": 12, "level_lookback": "", "deseasonalise": False, "combine": "mean", "ensemble_size": 5}
LEVEL = {**BEFORE, "lookback": 0, "seasonal_lookback": 0, "output_steps": 0}  # the level view alone, whole horizon
VIEWS_PLUS_LEVEL = {**BEFORE, "output_steps": 0, "level_lookback": "36", "deseasonalise": True}
DESIGNS: dict[str, tuple[str, dict[str, Any]]] = {  # name -> (what it is, its settings)
    "default": ("today's presets", {}),
    "baseline": ("the defaults before these experiments: panels read 24 year-over-year log changes and predict 12 "
                 "months (recursively beyond), 8 epochs; a single series two views (12 months relative to the last, "
                 "6 year-over-year changes)", BEFORE),
    "level": ("36 months against the mean of their last 12 (logs; a ratio where a series has zeros or signs), the "
              "whole horizon at once", {**LEVEL, "level_lookback": "36"}),
    "level_deseasonalised": ("the level view with each window's significant seasonality taken out and put back "
                             "(ES-RNN)", {**LEVEL, "level_lookback": "36", "deseasonalise": True}),
    "theta_correction": ("the level view also reads Theta's forecast of the window and predicts its correction",
                         {**LEVEL, "level_lookback": "36", "theta_input": True}),
    "lengths_losses_median": ("N-BEATS' recipe: deseasonalised level windows of 2, 3 and 4 years, members trained "
                              "on MSE and MAE alternately, combined by the median",
                              {**LEVEL, "level_lookback": "24,36,48", "deseasonalise": True, "loss": "mse,mae",
                               "combine": "median"}),
    "views_plus_level": ("the preset's views (year-over-year changes; and 12 months relative to the last for a "
                         "single series) beside the deseasonalised level view, the whole horizon (the yearly view a "
                         "season at a time, fed its own months)", VIEWS_PLUS_LEVEL),
    "views_plus_level_median": ("the same views, combined by the median of their networks",
                                {**VIEWS_PLUS_LEVEL, "combine": "median"}),
    "views_plus_level_median_3": ("the same, 3 seeds per view instead of 5 (6 networks a fit: the cost of 5)",
                                  {**VIEWS_PLUS_LEVEL, "combine": "median", PANEL_ONLY: {"ensemble_size": 3}}),
    "without_statsforecast": ("today's presets, the candidates built on statsforecast's models (ets, "
                              "stats_median, lstm_stats) left out: the setting for a panel too large for them",
                              {"statsforecast_candidates": False}),
    "recent_cosine": ("deseasonalised level windows, each series' latest 60 windows only, three times the "
                      "optimisation steps annealed by a cosine schedule",
                      {**LEVEL, "level_lookback": "36", "deseasonalise": True, "windows_per_series": 60,
                       "lr_schedule": "cosine", PANEL_ONLY: {"epochs": 24}}),
}


@dataclass(frozen=True)
class DevSet:
    """A development set: its panel, its config, how many origins and which are scored."""

    name: str
    load: Callable[[], tuple[Panel, Config]]
    folds: int
    scored: str  # "last": the last origin only (the competition's split); "all": every origin
    single: bool = False


def _csv_set(config: str, **overrides: Any) -> Callable[[], tuple[Panel, Config]]:
    def load(extra: dict[str, Any] | None = None) -> tuple[Panel, Config]:
        cfg = load_config(ROOT / config if config else None, {**overrides, **(extra or {})})
        panel, report = check_csv(ROOT / cfg.csv_path, cfg)
        raise_for_report(report)
        return panel, cfg
    return load  # type: ignore[return-value]


def _series_set(name: str) -> Callable[..., tuple[Panel, Config]]:
    def load(extra: dict[str, Any] | None = None) -> tuple[Panel, Config]:
        from accuracy import real_series  # benchmarks/accuracy.py

        series = next(s for key, s in real_series().items() if key.startswith(name))
        return single(series.asfreq("MS")), load_config(overrides=extra or {})
    return load


SETS = [
    DevSet("m1", _csv_set("configs/m1_monthly.yaml", folds=2), 2, "last"),
    DevSet("us_employment", _csv_set("configs/us_employment.yaml", folds=3), 3, "all"),
    DevSet("air_passengers", _csv_set(""), 3, "all", single=True),
    DevSet("electrical_orders", _series_set("electrical"), 3, "all", single=True),
    DevSet("co2", _series_set("CO2"), 3, "all", single=True),
    DevSet("el_nino", _series_set("El Nino"), 3, "all", single=True),
]


def peer_forecasts(train: Panel, steps: int, season_length: int) -> dict[str, np.ndarray]:
    """The four peers' (n, steps) forecasts of every series of ``train`` (statsforecast, one call each)."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoCES, AutoETS, DynamicOptimizedTheta

    frame = pd.DataFrame({"unique_id": np.repeat(np.arange(len(train)), np.diff(train.offsets)),
                          "ds": np.concatenate([month_starts(int(train.starts[i]), train.length(i))
                                                for i in range(len(train))]), "y": train.values})
    models = [model(season_length=season_length, alias=name) for model, name in
              zip((AutoETS, AutoCES, DynamicOptimizedTheta, AutoARIMA), PEERS, strict=True)]
    out = StatsForecast(models=models, freq="MS", n_jobs=2).forecast(df=frame, h=steps).sort_values(["unique_id", "ds"])
    found = {name: out[name].to_numpy(float).reshape(len(train), steps) for name in PEERS}
    return found | {SCUM: np.median(np.stack([found[name] for name in PEERS]), axis=0)}


def cached_peers(name: str, train: Panel, steps: int, season_length: int) -> dict[str, np.ndarray]:
    """:func:`peer_forecasts`, read back when the same set's same training months were fitted before."""
    key = hashlib.sha256(f"{name}|{steps}|{season_length}|{train.sha256}".encode()).hexdigest()[:20]
    path = CACHE / f"peers-{name}-{key}.npz"
    if path.exists():
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    found = peer_forecasts(train, steps, season_length)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **found)
    return found


def run_set(dev: DevSet, settings: dict[str, Any]) -> dict[str, Any]:
    """The design's backtest on one set: per scored origin, every model's MASE per series."""
    extra = settings.get(PANEL_ONLY, {}) if not dev.single else {}
    panel, cfg = dev.load({k: v for k, v in settings.items() if k != PANEL_ONLY} | extra)  # type: ignore[call-arg]
    cfg = replace(cfg, folds=dev.folds)
    started = time.perf_counter()
    results = bt.with_published([bt.run_fold(panel, cfg, fold) for fold in range(dev.folds)])
    seconds = time.perf_counter() - started
    scored = results[-1:] if dev.scored == "last" else results
    mase: dict[str, list[float]] = {}
    for r in scored:
        train, actual = bt.fold_split(panel, bt.origins(panel, cfg)[r["fold"]], cfg.horizon, cfg.season_length)
        peers = cached_peers(dev.name, train, cfg.horizon, cfg.season_length)
        lstm = np.array(r["forecasts"][LSTM])
        scales = np.array([mase_scale(h, cfg.season_length) for h in train])
        theta = np.array(r["forecasts"]["theta"])
        three = [peers[p] for p in PEERS if p != "AutoARIMA"]
        forecasts = peers | {f"{LSTM}+{SCUM}": np.median(np.stack([*(peers[p] for p in PEERS), lstm]), axis=0),
                             f"mean({LSTM},{SCUM})": (lstm + peers[SCUM]) / 2,
                             "median(ETS,CES,DOT)": np.median(np.stack(three), axis=0),
                             "median(ETS,CES,DOT,theta)": np.median(np.stack([*three, theta]), axis=0),
                             "median(ETS,CES,DOT,lstm)": np.median(np.stack([*three, lstm]), axis=0),
                             "median(ETS,CES,DOT,theta,lstm)": np.median(np.stack([*three, theta, lstm]), axis=0)}
        for model, forecast in forecasts.items():
            mase.setdefault(model, []).extend(metrics_rows(actual, forecast, scales)["mase"].tolist())
        for model, values in r["scores"].items():
            mase.setdefault(model, []).extend(values["mase"])
        mape = r["scores"][LSTM]["mape"]
        mase.setdefault("lstm_mape", []).extend(mape)
    means = {model: float(np.nanmean(values)) for model, values in mase.items()}
    series_mase = {model: values for model, values in mase.items()}
    return {"set": dev.name, "seconds": seconds, "mean": means,
            "per_series": {m: series_mase[m] for m in (LSTM, "AutoETS")}}


def run_design(name: str, sets: list[DevSet]) -> dict[str, Any]:
    """Every set's result of one design, read back from the cache when computed before with the same code."""
    doc, settings = DESIGNS[name]
    key = hashlib.sha256(json.dumps([name, settings, _code_digest(), [d.name for d in sets]],
                                    sort_keys=True).encode()).hexdigest()[:20]
    path = CACHE / f"design-{name}-{key}.json"
    if path.exists():
        return json.loads(path.read_text())
    row = {"design": name, "doc": doc, "settings": settings, "sets": {}}
    for dev in sets:
        logging.getLogger(__name__).warning("%s on %s", name, dev.name)
        row["sets"][dev.name] = run_set(dev, settings)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row))
    with open(RECORD, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    return row


def single_ratio(row: dict[str, Any], sets: list[DevSet]) -> float:
    """The geometric mean, over the single series' series-folds, of the LSTM's MASE over AutoETS's."""
    ratios = [np.asarray(row["sets"][d.name]["per_series"][LSTM], dtype=float)
              / np.asarray(row["sets"][d.name]["per_series"]["AutoETS"], dtype=float)
              for d in sets if d.single and d.name in row["sets"]]
    values = np.concatenate(ratios) if ratios else np.zeros(0)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.mean(np.log(values)))) if len(values) else float("nan")


def _cell(value: float | None, digits: int = 3) -> str:
    """A table cell: the value, or nothing where it was not measured."""
    return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def print_rows(rows: list[dict[str, Any]], sets: list[DevSet]) -> None:
    """The designs' table (each set's LSTM mean MASE, ...) and the peers' (the same origins)."""
    print("| design | " + " | ".join(d.name for d in sets) + " | single series LSTM / AutoETS | AirPassengers MAPE % "
          "| M1 published | M1 published without the LSTM | minutes |")
    print("|---|" + "---|" * (len(sets) + 5))
    for row in rows:
        cells = [f"{row['sets'][d.name]['mean'][LSTM]:.3f}" if d.name in row["sets"] else "" for d in sets]
        m1 = row["sets"].get("m1", {}).get("mean", {})
        air = row["sets"].get("air_passengers", {}).get("mean", {})
        minutes = sum(s["seconds"] for s in row["sets"].values()) / 60
        figures = [_cell(single_ratio(row, sets)), _cell(air.get("lstm_mape"), 2), _cell(m1.get(bt.PUBLISHED)),
                   _cell(m1.get(bt.WITHOUT_LSTM)), f"{minutes:.1f}"]
        print(f"| {row['design']} | " + " | ".join(cells + figures) + " |")
    print("\n| design: the published forecast (and without the LSTM's candidates) | "
          + " | ".join(d.name for d in sets) + " | minutes |")
    print("|---|" + "---|" * (len(sets) + 1))
    for row in rows:
        means = [row["sets"][d.name]["mean"] if d.name in row["sets"] else {} for d in sets]
        cells = [f"{_cell(m.get(bt.PUBLISHED))} ({_cell(m.get(bt.WITHOUT_LSTM))})" if m else "" for m in means]
        minutes = sum(s["seconds"] for s in row["sets"].values()) / 60
        print(f"| {row['design']} | " + " | ".join(cells) + f" | {minutes:.1f} |")
    if rows:
        first = max(rows, key=lambda row: len(row["sets"]))["sets"]
        print("\n| peer (same origins) | " + " | ".join(d.name for d in sets if d.name in first) + " |")
        print("|---|" + "---|" * len(first))
        for model in (*PEERS, SCUM, "theta", "seasonal_naive"):
            print(f"| {model} | " + " | ".join(f"{first[d.name]['mean'][model]:.3f}" for d in sets
                                              if d.name in first) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("designs", nargs="*", default=["baseline"])
    parser.add_argument("--sets", default=",".join(d.name for d in SETS))
    parser.add_argument("--list", action="store_true", help="list the designs and stop")
    parser.add_argument("--table", action="store_true",
                        help="print the designs' rows recorded in benchmarks/experiments.jsonl (the latest of each)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    if args.list:
        for name, (doc, settings) in DESIGNS.items():
            print(f"{name}: {doc} {settings}")
        return 0
    sets = [d for d in SETS if d.name in args.sets.split(",")]
    if args.table:
        recorded = {}
        for line in RECORD.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            recorded[row["design"]] = row
        print_rows([recorded[name] for name in (args.designs if args.designs != ["baseline"] else recorded)], sets)
        return 0
    print_rows([run_design(name, sets) for name in args.designs], sets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
