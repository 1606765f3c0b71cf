"""Step 3: time-ordered split, MinMax scaling fitted on training windows only, sliding windows.

Two optional transforms come before the MinMaxScaler(-1, 1):

- ``log``: model log values (multiplicative trend and seasonality become additive);
- ``relative``: express each window, and the months it predicts, relative to the window's last month, so
  a level above anything seen in training is still reachable (a global scaler caps forecasts at its range).

With both off this is the article's scaling (fitted on the training months only, never the holdout).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from pipeline.io import read_json, write_bytes, write_json

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
    """Invertible map between raw windows and the network's [-1, 1] inputs and outputs."""

    log: bool
    relative: bool
    data_min: float
    data_max: float

    def _scaler(self) -> MinMaxScaler:
        return MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.array([[self.data_min], [self.data_max]]))

    def _transform(self, values: np.ndarray) -> np.ndarray:
        return np.log(values) if self.log else np.asarray(values, dtype=float)

    def anchors(self, windows: np.ndarray) -> np.ndarray:
        """The per-window reference (transformed last month), or zeros when not relative."""
        last = self._transform(np.asarray(windows, dtype=float)[:, -1])
        return last if self.relative else np.zeros_like(last)

    def encode(self, values: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Raw (n, k) values -> scaled (n, k), relative to each row's anchor."""
        values = np.asarray(values, dtype=float)
        shifted = self._transform(values) - anchors[:, None]
        return self._scaler().transform(shifted.reshape(-1, 1)).reshape(values.shape)

    def decode(self, scaled: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """Scaled (n, k) network outputs -> raw (n, k) values."""
        scaled = np.asarray(scaled, dtype=float)
        shifted = self._scaler().inverse_transform(scaled.reshape(-1, 1)).reshape(scaled.shape) + anchors[:, None]
        return np.exp(shifted) if self.log else shifted

    def to_dict(self) -> dict[str, float | bool]:
        """JSON-able parameters (no pickle)."""
        return asdict(self)


def fit_scaling(train: np.ndarray, lookback: int, steps: int, log: bool = False, relative: bool = False) -> Scaling:
    """Fit the MinMaxScaler(-1, 1) on the training windows' values only (inputs and targets)."""
    x, y = make_windows(train, lookback, steps)
    probe = Scaling(log, relative, 0.0, 1.0)
    anchors = probe.anchors(x)
    shifted = np.concatenate([(probe._transform(x) - anchors[:, None]).ravel(),
                              (probe._transform(y) - anchors[:, None]).ravel()])
    scaler = MinMaxScaler(feature_range=FEATURE_RANGE).fit(shifted.reshape(-1, 1))
    return Scaling(log, relative, float(scaler.data_min_[0]), float(scaler.data_max_[0]))


def save_scaling(scaling: Scaling, path: str | Path) -> Path:
    """Atomically save the scaling parameters as JSON."""
    return write_json(path, scaling.to_dict())


def load_scaling(path: str | Path) -> Scaling:
    """Load parameters saved by :func:`save_scaling`."""
    return Scaling(**read_json(path))


@dataclass(frozen=True)
class FeatureSet:
    """Training and validation windows in scaled units: x (n, lookback, 1), y (n, steps)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray

    def save(self, path: str | Path) -> Path:
        """Atomically save as a compressed .npz (no pickled objects)."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, x_train=self.x_train, y_train=self.y_train, x_val=self.x_val, y_val=self.y_val)
        return write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> FeatureSet:
        """Load a FeatureSet saved by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            return cls(**{k: data[k] for k in ("x_train", "y_train", "x_val", "y_val")})


def build_features(train: pd.Series, lookback: int, val_size: int, steps: int = 1, log: bool = False,
                   relative: bool = False) -> tuple[FeatureSet, Scaling]:
    """Fit the scaling on the training months and cut them into windows; the last ``val_size`` validate."""
    values = train.to_numpy(dtype=float)
    scaling = fit_scaling(values, lookback, steps, log, relative)
    x, y = make_windows(values, lookback, steps)
    anchors = scaling.anchors(x)
    xs = scaling.encode(x, anchors).astype(np.float32)[..., None]
    ys = scaling.encode(y, anchors).astype(np.float32)
    if len(xs) <= val_size:
        raise ValueError(f"{len(xs)} training windows, need more than val_size={val_size}")
    cut = len(xs) - val_size
    return FeatureSet(xs[:cut], ys[:cut], xs[cut:], ys[cut:]), scaling
