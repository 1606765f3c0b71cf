"""The level view: each window read against its series' recent level, the whole forecast predicted at once.

A window of ``lookback`` months is divided by its level, the mean absolute value of its last season (the series'
level when those months are all zero), and read in logs where its series is positive (``log(x / level)``), as a
ratio elsewhere (``x / level - 1``: defined at zero, for series with months of zero and series of any sign). The
network predicts the ``steps`` months after the window in the same units, in one block (no recursion), so a level
never seen in training is still reachable and a series of any size shares the network.

Two options change what the network reads and predicts:

- ``deseasonalise``: where a window's seasonality is significant (the M3 Theta test on the normalised window), its
  seasonal indices (classical decomposition, additive in the normalised units: multiplicative in logs) are taken
  out of the window and put back on the forecast, as Smyl's ES-RNN does with Holt-Winters' indices;
- ``theta``: the network also reads the Theta method's forecast of the window (:func:`pipeline.theta.
  theta_rows`), appended to the window as ``steps`` more time steps with a second input marking them, and predicts
  the correction to it: a statistical forecast refined by a network trained over the whole panel.

No scaler is fitted: the normalised values are already of order one. What the view reads is therefore the same
for a series seen in training and one never seen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np

from pipeline.theta import seasonal_indices_rows, seasonal_rows, theta_rows

LIMIT = 10.0  # inputs are clipped to +-LIMIT (a month 22,000 times its level, or a ratio of 11): one spike cannot
# saturate the network
THETA_FLOOR = 1e-3  # Theta's forecast of a positive series, floored at this share of its level before its log


class RowKinds(Protocol):
    """Per window: read in logs (its series is positive), and its series' level (:class:`pipeline.data.features.
    Rows`)."""

    @property
    def log(self) -> np.ndarray: ...

    @property
    def level(self) -> np.ndarray: ...


@dataclass(frozen=True)
class Frame:
    """How each window of a batch is read: in logs or not (n, 1), its level (n, 1), its seasonal component at each
    position of the season, counted from the window's first month (n, season)."""

    logs: np.ndarray
    level: np.ndarray
    season: np.ndarray


@dataclass(frozen=True)
class LevelScaling:
    """The level view's map between raw windows and the network's inputs and outputs (see the module).

    Rows (:class:`pipeline.data.features.Rows`) say which windows are of positive series (logs); without them all are.
    """

    lookback: int
    steps: int
    season_length: int
    deseasonalise: bool = False
    theta: bool = False
    kind: str = "level"

    @property
    def time_steps(self) -> int:
        """Time steps the network reads per window (the window, then Theta's forecast with ``theta``)."""
        return self.lookback + (self.steps if self.theta else 0)

    @property
    def features(self) -> int:
        """Inputs per time step (the value; with ``theta``, also whether the step is Theta's forecast)."""
        return 2 if self.theta else 1

    @property
    def view(self) -> str:
        """Short name of how windows are read."""
        return "level" + ("-deseasonalised" if self.deseasonalise else "") + ("-theta" if self.theta else "")

    def _read(self, windows: np.ndarray) -> np.ndarray:
        windows = np.asarray(windows, dtype=float)
        if windows.ndim != 2 or windows.shape[1] < self.lookback:
            raise ValueError(f"expected windows of shape (n, >= {self.lookback}), got {windows.shape}")
        return windows[:, windows.shape[1] - self.lookback:]

    def frame(self, windows: np.ndarray, rows: RowKinds | None = None) -> Frame:
        """How each window is read (see :class:`Frame`)."""
        read = self._read(windows)
        n = len(read)
        logs = np.ones((n, 1), dtype=bool) if rows is None else np.asarray(rows.log, dtype=bool)[:, None]
        recent = np.mean(np.abs(read[:, -min(self.season_length, self.lookback):]), axis=1)
        fallback = np.ones(n) if rows is None else np.asarray(rows.level, dtype=float)
        level = np.where(recent > 0, recent, fallback)[:, None]
        season = np.zeros((n, self.season_length))
        if self.deseasonalise:
            units = self._units(read, logs, level)
            found = seasonal_rows(units, self.season_length)
            if found.any():
                season[found] = seasonal_indices_rows(units[found], self.season_length, np.zeros(found.sum(), bool))
        return Frame(logs, level, season)

    @staticmethod
    def _units(values: np.ndarray, logs: np.ndarray, level: np.ndarray) -> np.ndarray:
        ratio = np.asarray(values, dtype=float) / level
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(logs, np.log(np.where(logs & (ratio > 0), ratio, 1.0)), ratio - 1.0)

    def _season_at(self, frame: Frame, start: int, count: int) -> np.ndarray:
        """The seasonal component of ``count`` months from month ``start`` of the window (n, count)."""
        return frame.season[:, (start + np.arange(count)) % self.season_length]

    def _theta(self, read: np.ndarray, frame: Frame, steps: int) -> np.ndarray:
        """Theta's forecast of each window, deseasonalised, in the network's units (n, steps)."""
        forecast = theta_rows(read, steps, self.season_length)
        forecast = np.where(frame.logs, np.maximum(forecast, THETA_FLOOR * frame.level), forecast)
        return self._units(forecast, frame.logs, frame.level) - self._season_at(frame, self.lookback, steps)

    def reference(self, windows: np.ndarray, steps: int, frame: Frame) -> np.ndarray:
        """What the network's ``steps`` outputs are added to, in its units: the seasonal component of the months
        ahead, and Theta's forecast with ``theta`` (n, steps)."""
        ahead = self._season_at(frame, self.lookback, steps)
        return ahead + self._theta(self._read(windows), frame, steps) if self.theta else ahead

    def network_inputs(self, windows: np.ndarray, rows: RowKinds | None = None) -> np.ndarray:
        """Raw (n, >= lookback) windows -> the network's inputs (n, time_steps, features)."""
        read = self._read(windows)
        frame = self.frame(read, rows)
        values = self._units(read, frame.logs, frame.level) - self._season_at(frame, 0, self.lookback)
        if not self.theta:
            return np.clip(values, -LIMIT, LIMIT)[..., None]
        ahead = self._theta(read, frame, self.steps)
        steps = np.concatenate([values, ahead], axis=1)
        flags = np.broadcast_to(np.r_[np.zeros(self.lookback), np.ones(self.steps)], steps.shape)
        return np.stack([np.clip(steps, -LIMIT, LIMIT), flags], axis=-1)

    def targets(self, windows: np.ndarray, values: np.ndarray, rows: RowKinds | None = None) -> np.ndarray:
        """Raw (n, k) months after each window -> training targets (n, k)."""
        frame = self.frame(windows, rows)
        values = np.asarray(values, dtype=float)
        return self._units(values, frame.logs, frame.level) - self.reference(windows, values.shape[1], frame)

    def decode(self, windows: np.ndarray, outputs: np.ndarray, rows: RowKinds | None = None) -> np.ndarray:
        """The network's (n, k) outputs for each window -> raw (n, k) values."""
        frame = self.frame(windows, rows)
        outputs = np.asarray(outputs, dtype=float)
        units = outputs + self.reference(windows, outputs.shape[1], frame)
        with np.errstate(over="ignore"):
            return np.where(frame.logs, np.exp(np.where(frame.logs, units, 0.0)), units + 1.0) * frame.level

    def to_dict(self) -> dict[str, float | bool | int | str]:
        """JSON-able parameters (no pickle)."""
        return asdict(self)
