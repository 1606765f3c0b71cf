"""The published model of a panel: one global forecaster per shard, the shard of every series (by its stable
hash, so a series never seen lands in a shard too), the candidate that forecasts each series (chosen on its
backtest folds, :mod:`pipeline.model.candidates`; the panel's best for a series never seen), the calibration of
each candidate's prediction intervals (from the backtest residuals), and the values it takes: its
``value_domain`` setting and the domain of the data it was trained on (a history outside it is refused)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.data.panel import Panel, shard_for
from pipeline.errors import ConfigError
from pipeline.io import read_json, sha256_file, write_json
from pipeline.metrics import LSTM, NAIVE, flat, interval_scale
from pipeline.model.calibration import Calibration
from pipeline.model.candidates import NEEDS_LSTM, NEEDS_STATSFORECAST, all_candidates, statistical
from pipeline.model.forecaster import Forecaster
from pipeline.months import month_starts


@dataclass
class ShardedForecaster:
    """Forecasts every series of a panel with its chosen candidate (its shard's network, a statistical model, or
    their mean)."""

    shards: list[Forecaster | None]  # None: a shard whose months were too few for a network
    bounds: list[str]
    season_length: int
    horizon: int
    choice: dict[str, str] = field(default_factory=dict)  # series -> candidate; ``default`` for the others
    default: str = LSTM
    calibration: dict[str, Calibration] = field(default_factory=dict)
    value_domain: str = "auto"
    domain: str = domains.POSITIVE

    @property
    def lookback(self) -> int:
        """Months of history the model reads per series."""
        return max((f.lookback for f in self.shards if f is not None), default=0)

    @property
    def fallback(self) -> set[str]:
        """The series the LSTM alone does not forecast (another candidate won their backtest)."""
        return {series for series, model in self.choice.items() if model != LSTM}

    def forecast(self, history: Panel, steps: int | None = None) -> pd.DataFrame:
        """The ``steps`` (default ``horizon``) months after the last month of every series of ``history``: a long
        table of series, month (``YYYY-MM``), forecast and the candidate used (``model``): the one chosen for the
        series, or seasonal naive for a series the same every year and where the LSTM is needed but cannot read
        the series (too short)."""
        steps = steps or self.horizon
        short = [history.ids[i] for i in range(len(history)) if history.length(i) < self.season_length]
        if short:
            raise ConfigError(f"history of series {', '.join(map(repr, short[:5]))}: fewer than {self.season_length} "
                              f"months (a forecast needs at least a season)")
        histories = list(history)
        used = np.array([self.choice.get(sid, self.default) for sid in history.ids], dtype=object)
        used[[flat(h, self.season_length) for h in histories]] = NAIVE  # the same every year: repeated, by rule
        stats = statistical(histories, steps, self.season_length, self.value_domain,
                            fitted=np.isin(used, NEEDS_STATSFORECAST))
        lstm = stats[NAIVE].copy()
        shard = np.array([shard_for(sid, self.bounds) for sid in history.ids])
        for k, forecaster in enumerate(self.shards):
            mine = np.flatnonzero((shard == k) & np.isin(used, NEEDS_LSTM))
            if len(mine) and forecaster is None:
                used[mine] = NAIVE
            elif len(mine) and forecaster is not None:
                lstm[mine], read = forecaster.forecast([histories[i] for i in mine.tolist()], steps, self.season_length,
                                                       self.value_domain)
                used[mine[~read]] = NAIVE
        candidates = all_candidates(lstm, stats)
        values = np.stack([candidates[model][i] for i, model in enumerate(used)]) if len(used) \
            else np.zeros((0, steps))
        months = [month_starts(history.end(i), steps).strftime("%Y-%m") for i in range(len(history))]
        table = pd.DataFrame({"series": np.repeat(np.array(history.ids, dtype=object), steps),
                              "month": np.concatenate(months) if months else [],
                              "forecast": values.reshape(-1), "model": np.repeat(used, steps)})
        return table.assign(**self._intervals(history, values, used))

    def _intervals(self, history: Panel, values: np.ndarray, used: np.ndarray) -> dict[str, np.ndarray]:
        """``lower_<level>`` and ``upper_<level>`` columns, each series with its model's calibration and its own
        scale (none when the model was logged without calibrations; NaN for a series that never changed from year
        to year: no error to scale them by)."""
        if not self.calibration:
            return {}
        kinds = domains.kinds(history, self.value_domain)
        scales = np.array([np.nan if flat(history.values_of(i), self.season_length) else  # no errors to scale
                           interval_scale(history.values_of(i), self.season_length, kinds[i] == domains.POSITIVE)
                           for i in range(len(history))])
        levels = next(iter(self.calibration.values())).levels
        columns = {f"{side}_{level}": np.zeros_like(values) for level in levels for side in ("lower", "upper")}
        for model, calibration in self.calibration.items():
            rows = np.flatnonzero(used == model)
            for level, (lower, upper) in calibration.bounds(values[rows], scales[rows], kinds[rows]).items():
                columns[f"lower_{level}"][rows], columns[f"upper_{level}"][rows] = lower, upper
        return {name: column.reshape(-1) for name, column in columns.items()}

    def save(self, folder: str | Path) -> dict[str, str]:
        """Write every shard's forecaster and the panel spec; return the files (MLflow model artifacts)."""
        folder = Path(folder)
        files: dict[str, str] = {}
        for k, forecaster in enumerate(self.shards):
            if forecaster is not None:
                saved = forecaster.save(folder / f"shard_{k}")
                files |= {f"shard_{k}_weights": saved["weights"], f"shard_{k}_spec": saved["spec"]}
        spec = write_json(folder / "panel.json", {"shards": len(self.shards), "bounds": self.bounds,
                                                  "season_length": self.season_length, "horizon": self.horizon,
                                                  "choice": dict(sorted(self.choice.items())),
                                                  "default": self.default,
                                                  "value_domain": self.value_domain, "domain": self.domain,
                                                  "calibration": {m: c.to_dict() for m, c in self.calibration.items()}})
        return files | {"panel": str(spec)}

    def checksums(self, files: dict[str, str]) -> dict[str, str]:
        """SHA-256 of each shard's weights, by artifact name (recorded in the MLflow model)."""
        return {name: sha256_file(path) for name, path in files.items() if name.endswith("_weights")}

    @classmethod
    def load(cls, files: dict[str, str], checksums: dict[str, str] | None = None) -> ShardedForecaster:
        """Rebuild from :meth:`save`'s files, each shard's weights verified against its recorded checksum."""
        spec = read_json(files["panel"])
        shards = [Forecaster.load(files[f"shard_{k}_weights"], files[f"shard_{k}_spec"],
                                  (checksums or {}).get(f"shard_{k}_weights")) if f"shard_{k}_weights" in files
                  else None for k in range(spec["shards"])]
        calibration = {m: Calibration.from_dict(c) for m, c in spec.get("calibration", {}).items()}
        choice = spec["choice"] if "choice" in spec else dict.fromkeys(spec["fallback"], NAIVE)  # a model saved
        # before the candidates: its series fell back to seasonal naive where the LSTM lost their backtest
        return cls(shards, spec["bounds"], spec["season_length"], spec["horizon"], choice, spec.get("default", LSTM),
                   calibration, spec.get("value_domain", domains.POSITIVE), spec.get("domain", domains.POSITIVE))
