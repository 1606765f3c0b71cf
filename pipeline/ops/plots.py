"""Figures logged with every run; each title says what it shows."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.panel import Panel
from pipeline.io import write_bytes
from pipeline.months import month_starts


def _save(fig: plt.Figure, path: str | Path) -> Path:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return write_bytes(path, buffer.getvalue())


def loss_curves(train_loss: list[float], val_loss: list[float], path: str | Path, title: str) -> Path:
    """Training and validation MSE per epoch (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    epochs = range(1, len(train_loss) + 1)
    ax.plot(epochs, train_loss, label="training loss")
    if val_loss:
        ax.plot(epochs, val_loss, label="validation loss (last training windows)")
    ax.set(xlabel="epoch", ylabel="MSE (scaled units)", yscale="log", title=f"Loss per epoch: {title}")
    ax.legend()
    return _save(fig, path)


def panel_forecasts(history: dict[str, pd.Series], forecast: dict[str, pd.Series], path: str | Path, title: str,
                    unit: str, actual: dict[str, pd.Series] | None = None,
                    bands: dict[str, dict[int, tuple[pd.Series, pd.Series]]] | None = None) -> Path:
    """Small multiples (at most 9 series): each series' recent months, its forecast with its prediction intervals
    as a fan (the widest palest) and, when given, the actual months the forecast is scored on."""
    names = list(forecast)[:9]
    cols = min(3, len(names))
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(max(5 * cols, 8), 3 * rows + 0.5), squeeze=False)
    for ax, name in zip(axes.ravel(), names, strict=False):
        context = history[name].iloc[-36:]
        ax.plot(context.index, context.to_numpy(), color="grey", label="data")
        levels = sorted((level for level, (lower, _) in (bands or {}).get(name, {}).items() if lower.notna().any()),
                        reverse=True)  # levels with bounds (none where too few backtest residuals)
        for shade, level in enumerate(levels):
            lower, upper = (bands or {})[name][level]
            ax.fill_between(lower.index, lower.to_numpy(), upper.to_numpy(), color="C0", alpha=0.15 + 0.15 * shade,
                            linewidth=0, label=f"{level} % interval")
        if actual is not None:
            ax.plot(actual[name].index, actual[name].to_numpy(), "k.-", label="actual")
        ax.plot(forecast[name].index, forecast[name].to_numpy(), "C0o-", markersize=3, label="forecast")
        ax.set_title(name[:40], fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    axes[0, 0].legend(fontsize=7)
    axes[0, 0].set_ylabel(unit)
    fig.suptitle(title, fontsize=10 if len(title) > 60 else 12)
    return _save(fig, path)


def largest(panel: Panel, count: int = 9) -> list[int]:
    """The positions of the ``count`` series of largest mean absolute value (the ones a panel's figures show)."""
    means = np.add.reduceat(np.abs(panel.values), panel.offsets[:-1]) / np.diff(panel.offsets) if len(panel) \
        else np.zeros(0)
    return np.argsort(-means, kind="stable")[:count].tolist()


def run_figures(cfg: Config, data_month: str, panel: Panel, holdout: dict[str, Any], future: pd.DataFrame,
                curves: dict[str, list[float]], figure: Callable[[str], Path]) -> list[Path]:
    """A run's figures, each written to ``figure(name)``: loss curves; the holdout forecast against the actual
    months and the coming months' forecast with their intervals (for a panel, the 9 largest series)."""
    title = f"{cfg.preset}, data to {data_month}"
    names = [panel.ids[i] for i in largest(panel)]
    at = {sid: i for i, sid in enumerate(holdout["series"])}

    def months(first: int, values: Any) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=float), index=month_starts(first, len(values)))

    history = {sid: panel.series(panel.position(sid)) for sid in names}
    start = dict(zip(holdout["series"], holdout["starts"], strict=True))  # each series' first holdout month
    fitted = {s: months(start[s], holdout["forecasts"]["published"][at[s]]) for s in names if s in at}
    actual = {s: months(start[s], holdout["actual"][at[s]]) for s in names if s in at}
    rows = {sid: group for sid, group in future.groupby("series") if sid in names}
    end = {sid: panel.end(panel.position(sid)) for sid in rows}
    ahead = {sid: months(end[sid], group["forecast"]) for sid, group in rows.items()}
    ahead_bands = {sid: {level: (months(end[sid], group[f"lower_{level}"]), months(end[sid], group[f"upper_{level}"]))
                         for level in cfg.levels if f"lower_{level}" in group} for sid, group in rows.items()}
    holdout_bands = {s: {level: (months(start[s], lower[at[s]]), months(start[s], upper[at[s]]))
                         for level, (lower, upper) in holdout["bands"].items()} for s in fitted}
    return [loss_curves(curves["train_loss"], curves["val_loss"], figure("loss_curves"), title),
            panel_forecasts({s: history[s][history[s].index < actual[s].index[0]] for s in fitted}, fitted,
                            figure("holdout_forecast"), f"Holdout forecast vs actual: {title}", cfg.target_column,
                            actual, holdout_bands),
            panel_forecasts(history, {s: ahead[s] for s in names if s in ahead}, figure("future_forecast"),
                            f"Forecast after {data_month}, with its intervals: {title}", cfg.target_column,
                            bands=ahead_bands)]
