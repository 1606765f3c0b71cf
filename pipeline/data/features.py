"""Step 3: time-ordered split, MinMax scaling fitted on training windows only, sliding windows.

Two optional transforms come before the MinMaxScaler(-1, 1):

- ``log``: model log values (multiplicative trend and seasonality become additive);
- ``relative``: express each window, and the months it predicts, relative to the window's last month, so
  a level above anything seen in training is still reachable (a global scaler caps forecasts at its range);
- ``season``: read year-over-year changes and predict each month against the same month a year earlier.

The default ensemble reads the data two ways (``build_views``): relative windows and year-over-year changes.
With all off this is the article's scaling (fitted on the training months only, never the holdout).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from pipeline.config import Config
from pipeline.data.panel import Panel
from pipeline.io import read_json, write_bytes, write_json
from pipeline.metrics import seasonal_change

FEATURE_RANGE = (-1.0, 1.0)


def split(series: pd.Series, holdout: int) -> tuple[pd.Series, pd.Series]:
    """Split a series in time order: everything but the last ``holdout`` months, and those months."""
    if holdout >= len(series):
        raise ValueError(f"holdout {holdout} leaves no training months out of {len(series)}")
    return series.iloc[:-holdout], series.iloc[-holdout:]


def make_windows(values: np.ndarray, lookback: int, steps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``lookback`` values and the ``steps`` values after each: X (n, lookback), Y (n, steps)."""
    values = np.asarray(values, dtype=float).reshape(-1)
    n = len(values) - lookback - steps + 1
    if n < 1:
        raise ValueError(f"{len(values)} values are too few for a lookback of {lookback} and {steps} step(s)")
    starts = np.arange(n)[:, None]
    return values[starts + np.arange(lookback)], values[starts + lookback + np.arange(steps)]


@dataclass(frozen=True)
class Scaling:
    """Invertible map between raw windows of ``lookback`` months and the network's [-1, 1] inputs and outputs.

    Each window is read one of three ways: absolute values (the article), values relative to its last month
    (``relative``), or, with ``season`` > 0, the changes over a season (month against the same month a year
    earlier), the months it predicts being expressed against the same months a season earlier. ``season`` needs
    at most ``season`` output months per window, and reads windows of ``season`` + the network's time steps.
    """

    log: bool
    relative: bool
    data_min: float
    data_max: float
    lookback: int
    season: int = 0

    @property
    def time_steps(self) -> int:
        """Time steps the network reads per window."""
        return self.lookback - self.season

    @property
    def view(self) -> str:
        """Short name of how windows are read: ``yoy``, ``relative`` or ``absolute``."""
        return "yoy" if self.season else "relative" if self.relative else "absolute"

    def _scaler(self) -> MinMaxScaler:
        return MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.array([[self.data_min], [self.data_max]]))

    def _transform(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.log else np.asarray(values, dtype=float)

    def _window(self, windows: np.ndarray) -> np.ndarray:
        windows = np.asarray(windows, dtype=float)
        if windows.ndim != 2 or windows.shape[1] < self.lookback:
            raise ValueError(f"expected windows of shape (n, >= {self.lookback}), got {windows.shape}")
        return self._transform(windows[:, windows.shape[1] - self.lookback:])

    def _changes(self, windows: np.ndarray) -> np.ndarray:
        """What the network reads, before scaling: (n, time_steps)."""
        t = self._window(windows)
        if self.season:
            return t[:, self.season:] - t[:, :-self.season]
        return t - t[:, -1:] if self.relative else t

    def reference(self, windows: np.ndarray, steps: int) -> np.ndarray:
        """The transformed values the ``steps`` predicted months are expressed against: (n, steps)."""
        t = self._window(windows)
        if self.season:
            if steps > self.season:
                raise ValueError(f"a seasonal window predicts at most {self.season} months, not {steps}")
            return t[:, -self.season:][:, :steps]
        return np.repeat(t[:, -1:] if self.relative else np.zeros_like(t[:, -1:]), steps, axis=1)

    def _scale(self, shifted: np.ndarray) -> np.ndarray:
        return self._scaler().transform(shifted.reshape(-1, 1)).reshape(shifted.shape)

    def inputs(self, windows: np.ndarray) -> np.ndarray:
        """Raw (n, >= lookback) windows (the last ``lookback`` months are read) -> scaled inputs (n, time_steps)."""
        return self._scale(self._changes(windows))

    def targets(self, windows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Raw (n, k) months after each window -> scaled training targets (n, k)."""
        values = np.asarray(values, dtype=float)
        return self._scale(self._transform(values) - self.reference(windows, values.shape[1]))

    def decode(self, windows: np.ndarray, scaled: np.ndarray) -> np.ndarray:
        """Scaled (n, k) network outputs for each window -> raw (n, k) values."""
        scaled = np.asarray(scaled, dtype=float)
        shifted = self._scaler().inverse_transform(scaled.reshape(-1, 1)).reshape(scaled.shape)
        shifted = shifted + self.reference(windows, scaled.shape[1])
        return np.exp(shifted) if self.log else shifted

    def to_dict(self) -> dict[str, float | bool | int]:
        """JSON-able parameters (no pickle)."""
        return asdict(self)


def fit_scaling(train: np.ndarray, lookback: int, steps: int, log: bool = False, relative: bool = False,
                season: int = 0) -> Scaling:
    """Fit the MinMaxScaler(-1, 1) on the training windows' values only (inputs and targets)."""
    x, y = make_windows(train, lookback, steps)
    probe = Scaling(log, relative, 0.0, 1.0, lookback, season)
    shifted = np.concatenate([probe._changes(x).ravel(), (probe._transform(y) - probe.reference(x, steps)).ravel()])
    scaler = MinMaxScaler(feature_range=FEATURE_RANGE).fit(shifted.reshape(-1, 1))
    return Scaling(log, relative, float(scaler.data_min_[0]), float(scaler.data_max_[0]), lookback, season)


def save_scaling(scaling: Scaling, path: str | Path) -> Path:
    """Atomically save the scaling parameters as JSON."""
    return write_json(path, scaling.to_dict())


def load_scaling(path: str | Path) -> Scaling:
    """Load parameters saved by :func:`save_scaling`."""
    return Scaling(**read_json(path))


@dataclass(frozen=True)
class FeatureSet:
    """Training and validation windows in scaled units: x (n, lookback, 1), y (n, steps); with weights (n,) when
    the windows of a panel's series count by their series' scale (``mase_loss``), else None."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    w_train: np.ndarray | None = None
    w_val: np.ndarray | None = None

    def save(self, path: str | Path) -> Path:
        """Atomically save as a compressed .npz (no pickled objects)."""
        buffer = io.BytesIO()
        arrays = {k: v for k, v in asdict(self).items() if v is not None}
        np.savez_compressed(buffer, **arrays)
        return write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        """Load a FeatureSet saved by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in data.files})


@dataclass(frozen=True)
class ViewSpec:
    """How one view of the ensemble reads the data: windows of ``lookback`` months (``season`` > 0: year-over-year
    changes, the first ``season`` months the reference), ``steps`` months predicted, log values (``log``), each
    window relative to its last month (``relative``); the last ``val_size`` windows of each series validate;
    ``max_windows`` > 0 keeps only the latest that many training windows of each series.

    ``weighted``: each window's loss counts by 1 / s**2, s being its series' mean absolute change from the same
    month a year earlier (in the transformed units): the squared error then reads like a squared MASE, so calm
    series weigh as much as volatile ones (weights averaging 1; none for a single series, where all are equal).
    """

    lookback: int
    val_size: int
    steps: int = 1
    log: bool = False
    relative: bool = False
    season: int = 0
    max_windows: int = 0
    weighted: bool = False
    season_length: int = 12

    @classmethod
    def views(cls, cfg: Config) -> list[ViewSpec]:
        """The configured views: windows of ``lookback`` months (when > 0), then the last ``seasonal_lookback``
        year-over-year changes (when > 0)."""
        common = {"val_size": cfg.val_size, "steps": cfg.output_steps, "log": cfg.log_transform,
                  "relative": cfg.relative_windows, "max_windows": cfg.windows_per_series, "weighted": cfg.mase_loss,
                  "season_length": cfg.season_length}
        return ([cls(cfg.lookback, **common)] if cfg.lookback else []) + (
            [cls(cfg.seasonal_lookback + cfg.season_length, season=cfg.season_length, **common)]
            if cfg.seasonal_lookback else [])


def build_features(train: Panel, view: ViewSpec) -> tuple[FeatureSet, Scaling]:
    """Windows of every series of ``train`` pooled into one training set (a global model's), with one scaling
    fitted on all of them (see :class:`ViewSpec`). Series too short for one window are left out."""
    lookback, val_size, steps, log, relative, season = (view.lookback, view.val_size, view.steps, view.log,
                                                         view.relative, view.season)
    probe = Scaling(log, relative, 0.0, 1.0, lookback, season)
    parts, scales = [], []
    for values in train:
        if len(values) < lookback + steps + val_size:
            continue
        x, y = make_windows(values, lookback, steps)
        if view.max_windows:
            x, y = x[-(view.max_windows + val_size):], y[-(view.max_windows + val_size):]
        parts.append((x, y))
        scales.append(seasonal_change(probe._transform(values), view.season_length))
    if not parts or sum(len(x) for x, _ in parts) <= val_size * len(parts):
        raise ValueError(f"too few training windows: no series holds more than lookback {lookback} + {steps} "
                         f"output month(s) + val_size {val_size} windows")
    scaling = _pooled_scaling(parts, lookback, steps, log, relative, season)
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("x_train", "y_train", "x_val", "y_val", "w_train", "w_val")}
    for (x, y), scale in zip(parts, scales, strict=True):
        xs, ys = scaling.inputs(x).astype(np.float32)[..., None], scaling.targets(x, y).astype(np.float32)
        cut = len(xs) - val_size
        for key, value in (("x_train", xs[:cut]), ("y_train", ys[:cut]), ("x_val", xs[cut:]), ("y_val", ys[cut:])):
            columns[key].append(value)
        columns["w_train"].append(np.full(cut, scale**-2))
        columns["w_val"].append(np.full(len(xs) - cut, scale**-2))
    data = {k: np.concatenate(v) for k, v in columns.items()}
    if view.weighted and len(parts) > 1:
        norm = float(data["w_train"].mean())
        return FeatureSet(**{k: (v / norm).astype(np.float32) if k.startswith("w_") else v
                             for k, v in data.items()}), scaling
    return FeatureSet(data["x_train"], data["y_train"], data["x_val"], data["y_val"]), scaling


def _pooled_scaling(parts: list[tuple[np.ndarray, np.ndarray]], lookback: int, steps: int, log: bool,
                    relative: bool, season: int) -> Scaling:
    """The MinMaxScaler(-1, 1) of :func:`fit_scaling`, fitted on the windows of every series at once."""
    probe = Scaling(log, relative, 0.0, 1.0, lookback, season)
    low, high = np.inf, -np.inf
    for x, y in parts:
        shifted = np.concatenate([probe._changes(x).ravel(), (probe._transform(y) - probe.reference(x, steps)).ravel()])
        low, high = min(low, float(shifted.min())), max(high, float(shifted.max()))
    scaler = MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.array([[low], [high]]))
    return Scaling(log, relative, float(scaler.data_min_[0]), float(scaler.data_max_[0]), lookback, season)


def build_views(train: Panel, cfg: Config) -> list[tuple[FeatureSet, Scaling]]:
    """Features for each way the configured ensemble reads the data (:meth:`ViewSpec.views`)."""
    return [build_features(train, view) for view in ViewSpec.views(cfg)]
