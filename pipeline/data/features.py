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
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.config import Config
from pipeline.data.level import LevelScaling
from pipeline.data.panel import Panel
from pipeline.io import read_json, write_bytes, write_json
from pipeline.metrics import flat, seasonal_change, series_level

if TYPE_CHECKING:  # scikit-learn loads where a scaling is fitted or applied, not where windows are cut
    from sklearn.preprocessing import MinMaxScaler

logger = logging.getLogger(__name__)

FEATURE_RANGE = (-1.0, 1.0)
MIN_TRAINING_WINDOWS = 12  # a network trained on fewer learns nothing worth publishing: the view is left out


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


class TooFewWindowsError(ValueError):
    """No series of a training panel holds a training window: too short for the network (it is not trained)."""


@dataclass(frozen=True)
class Rows:
    """How the series behind each window are read (:mod:`pipeline.domains`): their kinds (``positive`` series in
    logs, the others divided by a level, and ``nonnegative`` ones never below zero), and each series' own level
    (its mean absolute value: what a window of zeros is divided by)."""

    kinds: np.ndarray
    level: np.ndarray

    @classmethod
    def of(cls, histories: Sequence[np.ndarray], setting: str = "auto") -> Rows:
        """The rows of one window per history, under the ``value_domain`` setting."""
        return cls(domains.kinds(histories, setting), np.array([series_level(h) for h in histories], dtype=float))

    @property
    def log(self) -> np.ndarray:
        """(n,) whether each row is read in logs."""
        return self.kinds == domains.POSITIVE

    def repeat(self, counts: Sequence[int]) -> Rows:
        """Each row repeated ``counts`` times (one per window of its series)."""
        return Rows(np.repeat(self.kinds, counts), np.repeat(self.level, counts))


def read_months(lookback: int, season_length: int) -> int:
    """The fewest months of its own a series needs for a window of ``lookback`` months: the rest of the window is
    backcast (:func:`backcast`); a season and a month, so that a year-over-year view reads one change at least."""
    return min(lookback, season_length + 1)


def backcast(values: np.ndarray, months: int, season_length: int) -> np.ndarray:
    """``values`` with ``months`` months before them, each the same month of the first season (a series that did
    not change from year to year before it started: zero year-over-year changes, the first year's shape)."""
    values = np.asarray(values, dtype=float)
    if months <= 0:
        return values
    first = values[:season_length]
    return np.concatenate([np.tile(first, -(-months // len(first)))[-months:], values])


@dataclass(frozen=True)
class Scaling:
    """Invertible map between raw windows of ``lookback`` months and the network's [-1, 1] inputs and outputs.

    Each window is read one of three ways: absolute values (the article), values relative to its last month
    (``relative``), or, with ``season`` > 0, the changes over a season (month against the same month a year
    earlier), the months it predicts being expressed against the same months a season earlier. ``season`` needs
    at most ``season`` output months per window, and reads windows of ``season`` + the network's time steps.

    With ``log``, values are first made scale-free, row by row (:class:`Rows`; all in logs when no rows are given):
    the logs of a positive series, the values of any other divided by the window's mean absolute value.
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
        from sklearn.preprocessing import MinMaxScaler

        return MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.array([[self.data_min], [self.data_max]]))

    def _read(self, windows: np.ndarray) -> np.ndarray:
        windows = np.asarray(windows, dtype=float)
        if windows.ndim != 2 or windows.shape[1] < self.lookback:
            raise ValueError(f"expected windows of shape (n, >= {self.lookback}), got {windows.shape}")
        return windows[:, windows.shape[1] - self.lookback:]

    def _units(self, windows: np.ndarray, rows: Rows | None) -> tuple[np.ndarray, np.ndarray]:
        """Per row: read in logs (n, 1), else the divisor (n, 1) of its values (1 without ``log``)."""
        read = self._read(windows)
        n = len(read)
        if not self.log:
            return np.zeros((n, 1), dtype=bool), np.ones((n, 1))
        if rows is None:
            return np.ones((n, 1), dtype=bool), np.ones((n, 1))
        own = np.mean(np.abs(read), axis=1)
        return rows.log[:, None], np.where(own > 0, own, rows.level)[:, None]

    @staticmethod
    def _apply(values: np.ndarray, logs: np.ndarray, divisor: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return np.where(logs, np.log(np.where(logs, values, 1.0)), values / divisor)

    def _changes(self, windows: np.ndarray, rows: Rows | None) -> np.ndarray:
        """What the network reads, before scaling: (n, time_steps)."""
        t = self._apply(self._read(windows), *self._units(windows, rows))
        if self.season:
            return t[:, self.season:] - t[:, :-self.season]
        return t - t[:, -1:] if self.relative else t

    def reference(self, windows: np.ndarray, steps: int, rows: Rows | None = None) -> np.ndarray:
        """The transformed values the ``steps`` predicted months are expressed against: (n, steps)."""
        t = self._apply(self._read(windows), *self._units(windows, rows))
        if self.season:
            if steps > self.season:
                raise ValueError(f"a seasonal window predicts at most {self.season} months, not {steps}")
            return t[:, -self.season:][:, :steps]
        return np.repeat(t[:, -1:] if self.relative else np.zeros_like(t[:, -1:]), steps, axis=1)

    def _scale(self, shifted: np.ndarray) -> np.ndarray:
        return self._scaler().transform(shifted.reshape(-1, 1)).reshape(shifted.shape)

    def _shifted(self, windows: np.ndarray, values: np.ndarray, rows: Rows | None) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        return self._apply(values, *self._units(windows, rows)) - self.reference(windows, values.shape[1], rows)

    def inputs(self, windows: np.ndarray, rows: Rows | None = None) -> np.ndarray:
        """Raw (n, >= lookback) windows (the last ``lookback`` months are read) -> scaled inputs (n, time_steps)."""
        return self._scale(self._changes(windows, rows))

    @property
    def features(self) -> int:
        """Inputs per time step."""
        return 1

    def network_inputs(self, windows: np.ndarray, rows: Rows | None = None) -> np.ndarray:
        """Raw windows -> the network's inputs (n, time_steps, 1)."""
        return self.inputs(windows, rows)[..., None]

    def targets(self, windows: np.ndarray, values: np.ndarray, rows: Rows | None = None) -> np.ndarray:
        """Raw (n, k) months after each window -> scaled training targets (n, k)."""
        return self._scale(self._shifted(windows, values, rows))

    def decode(self, windows: np.ndarray, scaled: np.ndarray, rows: Rows | None = None) -> np.ndarray:
        """Scaled (n, k) network outputs for each window -> raw (n, k) values."""
        scaled = np.asarray(scaled, dtype=float)
        shifted = self._scaler().inverse_transform(scaled.reshape(-1, 1)).reshape(scaled.shape)
        t = shifted + self.reference(windows, scaled.shape[1], rows)
        logs, divisor = self._units(windows, rows)
        with np.errstate(over="ignore"):
            return np.where(logs, np.exp(np.where(logs, t, 0.0)), t * divisor)

    def to_dict(self) -> dict[str, float | bool | int]:
        """JSON-able parameters (no pickle)."""
        return asdict(self)


def fit_scaling(train: np.ndarray, lookback: int, steps: int, log: bool = False, relative: bool = False,
                season: int = 0) -> Scaling:
    """Fit the MinMaxScaler(-1, 1) on the training windows' values only (inputs and targets)."""
    return _pooled_scaling([make_windows(train, lookback, steps)], None, lookback, steps, log, relative, season)


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
    changes, the first ``season`` months the reference), ``steps`` months predicted, scale-free values (``log``:
    logs, or values over their level where a series is not positive, by ``value_domain``), each window relative to
    its last month (``relative``); the last ``val_size`` windows of each series validate; ``max_windows`` > 0 keeps
    only the latest that many training windows of each series.

    ``weighted``: each window's loss counts by 1 / s**2, s being its series' mean absolute change from the same
    month a year earlier (in the transformed units): the squared error then reads like a squared MASE, so calm
    series weigh as much as volatile ones (weights averaging 1; none for a single series, where all are equal).

    A series too short for a window of its own months of every kind (``lookback`` + ``steps`` + ``val_size``)
    still trains when it holds :func:`read_months` + ``steps`` + ``val_size`` + 1: its windows begin with months
    backcast from its first season (:func:`backcast`).
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
    value_domain: str = "auto"
    level: bool = False
    deseasonalise: bool = False
    theta: bool = False

    @classmethod
    def views(cls, cfg: Config) -> list[ViewSpec]:
        """The configured views: windows of ``lookback`` months (when > 0), then the last ``seasonal_lookback``
        year-over-year changes (when > 0)."""
        common: dict[str, Any] = {"val_size": cfg.val_size, "steps": cfg.steps_out, "log": cfg.log_transform,
                  "relative": cfg.relative_windows, "max_windows": cfg.windows_per_series, "weighted": cfg.mase_loss,
                  "season_length": cfg.season_length, "value_domain": cfg.value_domain}
        level: dict[str, Any] = {"level": True, "deseasonalise": cfg.deseasonalise, "theta": cfg.theta_input}
        yearly = common | {"steps": min(cfg.steps_out, cfg.season_length)}  # at most a season: see Config
        return ([cls(cfg.lookback, **common)] if cfg.lookback else []) + (
            [cls(cfg.seasonal_lookback + cfg.season_length, season=cfg.season_length, **yearly)]
            if cfg.seasonal_lookback else []) + [cls(months, **common, **level) for months in cfg.level_lookbacks]

    def windows(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The windows of one series (backcast where it is short), or None when it is too short for any."""
        full = self.lookback + self.steps + self.val_size
        shortest = read_months(self.lookback, self.season_length) + self.steps + self.val_size + 1
        if len(values) < min(full, shortest):
            return None
        if len(values) < full:
            values = backcast(values, self.lookback - read_months(self.lookback, self.season_length),
                              self.season_length)
        x, y = make_windows(values, self.lookback, self.steps)
        if self.max_windows:
            x, y = x[-(self.max_windows + self.val_size):], y[-(self.max_windows + self.val_size):]
        return x, y


def build_features(train: Panel, view: ViewSpec) -> tuple[FeatureSet, Scaling | LevelScaling]:
    """Windows of every series of ``train`` pooled into one training set (a global model's), with one scaling
    fitted on all of them (see :class:`ViewSpec`). Series too short for one window are left out, and so are series
    that never change from year to year (nothing to learn; they are forecast by rule)."""
    val_size = view.val_size
    parts, histories = [], []
    for values in train:
        found = view.windows(values)
        if found is None or flat(values, view.season_length):
            continue
        parts.append(found)
        histories.append(values)
    training = sum(len(x) for x, _ in parts) - val_size * len(parts)
    if training < MIN_TRAINING_WINDOWS:
        raise TooFewWindowsError(f"{training} training window(s) of lookback {view.lookback} + {view.steps} output "
                                 f"month(s) beside val_size {val_size} validation windows a series, fewer than "
                                 f"{MIN_TRAINING_WINDOWS}")
    series_rows = Rows.of(histories, view.value_domain)
    rows = series_rows.repeat([len(x) for x, _ in parts])
    scaling: Scaling | LevelScaling = (
        LevelScaling(view.lookback, view.steps, view.season_length, view.deseasonalise, view.theta) if view.level
        else _pooled_scaling(parts, rows, view.lookback, view.steps, view.log, view.relative, view.season))
    scales = [seasonal_change(Scaling._apply(h, series_rows.log[i], series_rows.level[i])
                              if view.log or view.level else h, view.season_length) for i, h in enumerate(histories)]
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("x_train", "y_train", "x_val", "y_val", "w_train", "w_val")}
    at = 0
    for (x, y), scale in zip(parts, scales, strict=True):
        mine = Rows(rows.kinds[at:at + len(x)], rows.level[at:at + len(x)])
        at += len(x)
        xs, ys = scaling.network_inputs(x, mine).astype(np.float32), scaling.targets(x, y, mine).astype(np.float32)
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


def _pooled_scaling(parts: list[tuple[np.ndarray, np.ndarray]], rows: Rows | None, lookback: int, steps: int,
                    log: bool, relative: bool, season: int) -> Scaling:
    """The MinMaxScaler(-1, 1) fitted on the windows of every series at once (inputs and targets)."""
    probe = Scaling(log, relative, 0.0, 1.0, lookback, season)
    low, high, at = np.inf, -np.inf, 0
    for x, y in parts:
        mine = None if rows is None else Rows(rows.kinds[at:at + len(x)], rows.level[at:at + len(x)])
        at += len(x)
        shifted = np.concatenate([probe._changes(x, mine).ravel(), probe._shifted(x, y, mine).ravel()])
        low, high = min(low, float(shifted.min())), max(high, float(shifted.max()))
    from sklearn.preprocessing import MinMaxScaler

    scaler = MinMaxScaler(feature_range=FEATURE_RANGE).fit(np.array([[low], [high]]))
    return Scaling(log, relative, float(scaler.data_min_[0]), float(scaler.data_max_[0]), lookback, season)


def build_views(train: Panel, cfg: Config) -> list[tuple[FeatureSet, Scaling | LevelScaling]]:
    """Features for each way the configured ensemble reads the data (:meth:`ViewSpec.views`); a view whose windows
    are too long for the months of ``train`` is left out (the others train), and :class:`TooFewWindowsError` is
    raised when every view is."""
    views, errors = [], []
    for view in ViewSpec.views(cfg):
        try:
            views.append(build_features(train, view))
        except TooFewWindowsError as exc:
            errors.append(str(exc))
    if not views:
        raise TooFewWindowsError("; ".join(errors))
    if errors:
        logger.warning("a view left out: %s", "; ".join(errors))
    return views
