"""Step 3: time-ordered split, MinMax scaling fitted on the training months only, sliding windows."""

from __future__ import annotations

import io
from dataclasses import dataclass
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


def fit_scaler(train: np.ndarray) -> MinMaxScaler:
    """A MinMaxScaler to [-1, 1] fitted on the training values only (never on the holdout)."""
    return MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.asarray(train, dtype=float).reshape(-1, 1))


def scaler_to_dict(scaler: MinMaxScaler) -> dict[str, float]:
    """The fitted scaler's parameters as plain JSON-able numbers (no pickle)."""
    return {"data_min": float(scaler.data_min_[0]), "data_max": float(scaler.data_max_[0]),
            "feature_min": FEATURE_RANGE[0], "feature_max": FEATURE_RANGE[1]}


def scaler_from_dict(params: dict[str, float]) -> MinMaxScaler:
    """Rebuild a fitted scaler from :func:`scaler_to_dict` output."""
    scaler = MinMaxScaler(feature_range=(params["feature_min"], params["feature_max"]))
    return scaler.fit(np.array([[params["data_min"]], [params["data_max"]]]))


def save_scaler(scaler: MinMaxScaler, path: str | Path) -> Path:
    """Atomically save the scaler's parameters as JSON."""
    return write_json(path, scaler_to_dict(scaler))


def load_scaler(path: str | Path) -> MinMaxScaler:
    """Load a scaler saved by :func:`save_scaler`."""
    return scaler_from_dict(read_json(path))


def make_windows(values: np.ndarray, lookback: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows of ``lookback`` values and the value that follows each: X (n, lookback, 1), y (n,)."""
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    n = len(values) - lookback
    if n < 1:
        raise ValueError(f"{len(values)} values are too few for a lookback of {lookback}")
    index = np.arange(lookback)[None, :] + np.arange(n)[:, None]
    return values[index][..., None], values[lookback:]


@dataclass(frozen=True)
class FeatureSet:
    """Training and validation windows, in scaled units."""

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


def build_features(train: pd.Series, lookback: int, val_size: int) -> tuple[FeatureSet, MinMaxScaler]:
    """Scale the training months and cut them into windows; the last ``val_size`` windows validate."""
    scaler = fit_scaler(train.to_numpy())
    scaled = scaler.transform(train.to_numpy(dtype=float).reshape(-1, 1)).reshape(-1)
    x, y = make_windows(scaled, lookback)
    if len(x) <= val_size:
        raise ValueError(f"{len(x)} training windows, need more than val_size={val_size}")
    cut = len(x) - val_size
    return FeatureSet(x[:cut], y[:cut], x[cut:], y[cut:]), scaler
