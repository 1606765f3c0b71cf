"""Figures logged with every run; each title says what it shows."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from pipeline.io import write_bytes


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


def holdout_forecast(train: pd.Series, frame: pd.DataFrame, path: str | Path, title: str, unit: str) -> Path:
    """Recursive LSTM forecast and seasonal-naive baseline against the actual holdout months."""
    fig, ax = plt.subplots(figsize=(9, 4))
    context = train.iloc[-36:]
    ax.plot(context.index, context.to_numpy(), color="grey", label="training data (last 36 months)")
    ax.plot(frame.index, frame["actual"], "k.-", label="actual (holdout)")
    ax.plot(frame.index, frame["forecast"], "C0o-", label="LSTM recursive forecast")
    ax.plot(frame.index, frame["baseline"], "C1--", label="seasonal naive (last year)")
    ax.set(ylabel=unit, title=f"Holdout forecast vs actual: {title}")
    ax.legend()
    return _save(fig, path)


def future_forecast(series: pd.Series, future: pd.Series, path: str | Path, title: str, unit: str) -> Path:
    """The forecast of the months after the last data month, after the recent history."""
    fig, ax = plt.subplots(figsize=(9, 4))
    context = series.iloc[-48:]
    ax.plot(context.index, context.to_numpy(), "k.-", label="data (last 48 months)")
    ax.plot(future.index, future.to_numpy(), "C2o-", label=f"forecast ({len(future)} months)")
    ax.set(ylabel=unit, title=f"Forecast after {series.index[-1]:%Y-%m}: {title}")
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
            lower, upper = bands[name][level]
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
