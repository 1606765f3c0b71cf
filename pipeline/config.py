"""The pipeline's one configuration object, loaded from YAML and overridable by DAG params and CLI flags."""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from pipeline.errors import ConfigError, excerpt


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Frozen: a run's configuration never changes once resolved."""

    csv_path: str = "data/AirPassengers.csv"
    data_dir: str = "data"
    allow_any_csv_path: bool = False
    max_file_mb: int = 50
    date_column: str = "Month"
    target_column: str = "#Passengers"
    series_column: str = ""
    title_column: str = ""
    max_quarantine_share: float = 0.1
    shard_size: int = 200
    max_mapped_tasks: int = 1024
    lookback: int = 12
    seasonal_lookback: int = 6
    holdout: int = 12
    val_size: int = 12
    season_length: int = 12
    horizon: int = 12
    folds: int = 3
    preset: str = "lstm-direct"
    log_transform: bool = True
    relative_windows: bool = True
    output_steps: int = 12
    hidden_size: int = 64
    num_layers: int = 1
    dropout: float = 0.0
    learning_rate: float = 0.007
    epochs: int = 300
    patience: int = 40
    batch_size: int = 32
    ensemble_size: int = 5
    windows_per_series: int = 0
    mase_loss: bool = False
    warm_start: bool = False
    warm_epochs: int = 0
    precision: str = "fp32"
    seed: int = 42
    experiment_name: str = "lstm-monthly-retraining"
    registered_model_name: str = "air_passengers_lstm"
    baseline_gate: bool = True
    stats_baselines: bool = False
    live_mape_alert: float = 15.0
    interval_levels: str = "80,95"
    coverage_tolerance: float = 0.05
    band_alert_p: float = 0.01
    drift_level_z: float = 3.0
    drift_seasonal_corr: float = 0.8

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[str(field.type)]
            if (isinstance(value, bool) and field.type != "bool") or not isinstance(value, expected):
                raise ConfigError(f"config '{field.name}' must be {field.type}, got {excerpt(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"config '{field.name}' must be a finite number, got {value}")
            if field.name in BOUNDS:
                low, high = BOUNDS[field.name]
                if not low <= value <= high:
                    raise ConfigError(f"config '{field.name}' must be between {low} and {high}, got {value}")
            if isinstance(value, str) and value and not NAME_PATTERNS.get(field.name, TEXT).fullmatch(value):
                raise ConfigError(f"config '{field.name}' {NAME_RULES.get(field.name, TEXT_RULE)}, "
                                  f"got {excerpt(value)}")
        for name in ("csv_path", "data_dir", "date_column", "target_column", "experiment_name",
                     "registered_model_name"):
            if not getattr(self, name):
                raise ConfigError(f"config '{name}' may not be empty")
        levels = [part.strip() for part in self.interval_levels.split(",")]
        if not 1 <= len(levels) <= 4 or not all(part.isdigit() and 50 <= int(part) <= 99 for part in levels):
            raise ConfigError(f"config 'interval_levels' must be 1 to 4 comma-separated percentages from 50 to 99, "
                              f"got {excerpt(self.interval_levels)}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"config 'precision' must be one of {', '.join(PRECISIONS)}, "
                              f"got {excerpt(self.precision)}")
        if not self.lookback and not self.seasonal_lookback:
            raise ConfigError("config 'lookback' and 'seasonal_lookback' are both 0: the model would read nothing")
        if self.seasonal_lookback and self.output_steps > self.season_length:
            raise ConfigError(f"config 'seasonal_lookback' needs output_steps <= season_length "
                              f"({self.output_steps} > {self.season_length}); set seasonal_lookback: 0")

    @property
    def levels(self) -> tuple[int, ...]:
        """The prediction interval levels, in percent, ascending."""
        return tuple(sorted({int(part) for part in self.interval_levels.split(",")}))

    @property
    def input_months(self) -> int:
        """Months of history the model reads per forecast (the widest of its views)."""
        return max(self.lookback, self.seasonal_lookback + self.season_length if self.seasonal_lookback else 0)

    @property
    def networks(self) -> int:
        """Networks a fit trains: ``ensemble_size`` per view (``lookback`` months, ``seasonal_lookback`` changes)."""
        return self.ensemble_size * (bool(self.lookback) + bool(self.seasonal_lookback))

    @property
    def min_train_rows(self) -> int:
        """Fewest training months that cut into one training window beside the validation windows."""
        return self.input_months + self.output_steps + self.val_size

    @property
    def min_rows(self) -> int:
        """Fewest data months for the holdout split and the earliest backtest fold."""
        return self.min_train_rows + max(self.holdout, self.folds * self.horizon)

    def model_settings(self) -> dict[str, Any]:
        """The values that decide what a fit produces (two configs equal here train identical models)."""
        return {name: getattr(self, name) for name in MODEL_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every value (for XCom, MLflow params and JSON)."""
        return dataclasses.asdict(self)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))
# Arithmetic of training: float32, or bfloat16 for the network's forward and backward (CPU autocast: about twice as
# fast where the CPU has bfloat16 instructions, such as AVX512-BF16; the weights stay float32).
PRECISIONS = ("fp32", "bf16")

# Inclusive bounds of every numeric setting, wherever it comes from (YAML, DAG params, CLI flags); the DAG's
# params carry the same bounds in their schema, so the trigger form refuses what the run would refuse.
BOUNDS: dict[str, tuple[float, float]] = {
    "max_file_mb": (1, 2048), "lookback": (0, 240), "seasonal_lookback": (0, 120), "holdout": (1, 120),
    "val_size": (0, 120), "season_length": (1, 24), "horizon": (1, 60), "folds": (1, 24), "output_steps": (1, 60),
    "hidden_size": (1, 1024), "num_layers": (1, 8), "dropout": (0.0, 0.9), "learning_rate": (1e-6, 1.0),
    "epochs": (1, 5000), "patience": (0, 5000), "batch_size": (1, 65536), "ensemble_size": (1, 64),
    "seed": (0, 2**31 - 1), "live_mape_alert": (0.0, 1000.0), "drift_level_z": (0.0, 100.0),
    "drift_seasonal_corr": (-1.0, 1.0), "max_quarantine_share": (0.0, 1.0), "shard_size": (1, 1_000_000),
    "max_mapped_tasks": (1, 100_000), "windows_per_series": (0, 100_000), "coverage_tolerance": (0.0, 1.0),
    "band_alert_p": (0.0, 0.5), "warm_epochs": (0, 5000),
}
TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,1000}")
TEXT_RULE = "must be 1 to 1000 characters, none of them control characters"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
_NAME_RULE = "must start with a letter or digit and hold only letters, digits, '_', '.', '-' (at most 100)"
NAME_PATTERNS = {"experiment_name": _NAME, "registered_model_name": _NAME}
NAME_RULES = {"experiment_name": _NAME_RULE, "registered_model_name": _NAME_RULE}

# Who may set what. The operator (deployment config: PIPELINE_CONFIG, the environment, CLI flags on the host)
# sets everything; whoever may trigger the DAG sets model and training settings only, within BOUNDS. Paths,
# size limits, the data's columns, MLflow names, the gate and the alert thresholds are the operator's.
OPERATOR_KEYS = ("csv_path", "data_dir", "allow_any_csv_path", "max_file_mb", "date_column", "target_column",
                 "series_column", "title_column", "max_quarantine_share", "shard_size", "max_mapped_tasks",
                 "season_length", "experiment_name", "registered_model_name", "baseline_gate", "live_mape_alert",
                 "drift_level_z", "drift_seasonal_corr", "interval_levels", "coverage_tolerance", "band_alert_p")
TRIGGER_KEYS = tuple(name for name in FIELD_NAMES if name not in OPERATOR_KEYS)
MODEL_KEYS = ("lookback", "seasonal_lookback", "season_length", "val_size", "log_transform", "relative_windows",
              "output_steps", "hidden_size", "num_layers", "dropout", "learning_rate", "epochs", "patience",
              "batch_size", "ensemble_size", "seed", "windows_per_series", "mase_loss", "shard_size", "warm_start",
              "warm_epochs", "precision")

# What a model key meant before the key existed (a version trained then has no such param).
LEGACY_MODEL_SETTINGS: dict[str, Any] = {"seasonal_lookback": 0, "windows_per_series": 0, "mase_loss": False,
                                         "warm_start": False, "warm_epochs": 0, "precision": "fp32"}


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
    return data


def coerce(name: str, value: Any) -> Any:
    """Turn a string (from a CLI flag or env) into the field's type; typed values pass through."""
    kind = {f.name: str(f.type) for f in dataclasses.fields(Config)}[name]
    if name == "interval_levels" and not isinstance(value, bool):  # YAML `95` or `[80, 95]` mean "95", "80,95"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return ",".join(str(v) for v in value)
    if not isinstance(value, str) or kind == "str":
        return float(value) if kind == "float" and isinstance(value, int) and not isinstance(value, bool) else value
    try:
        if kind == "bool":
            lowered = value.strip().lower()
            if lowered not in {"true", "false", "1", "0", "yes", "no"}:
                raise ValueError(value)
            return lowered in {"true", "1", "yes"}
        return int(value) if kind == "int" else float(value)
    except ValueError as exc:
        raise ConfigError(f"config '{name}' must be {kind}, got {value!r}") from exc


def presets() -> dict[str, dict[str, Any]]:
    """The named model presets shipped with the package."""
    return _embedded()["presets"]


def _embedded() -> dict[str, Any]:
    text = resources.files("pipeline").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return _read_yaml(text, "pipeline/defaults.yaml")


def load_config(path: str | os.PathLike[str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Resolve a Config: embedded defaults < preset < YAML file at ``path`` < ``overrides``.

    ``None`` values in ``overrides`` mean "not given" and are ignored.
    """
    base = _embedded()
    named_presets = base.pop("presets")
    user: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as handle:
            user = _read_yaml(handle.read(), str(path))
        user.pop("presets", None)
    explicit = {**user, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted((set(base) | set(explicit)) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; valid keys: {', '.join(FIELD_NAMES)}")
    preset = explicit.get("preset", base.get("preset"))
    if preset not in named_presets:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(named_presets)}")
    merged = {**base, **named_presets[preset], **explicit}
    return Config(**{k: coerce(k, v) for k, v in merged.items()})


def trigger_overrides(conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """The settings a DAG trigger asked for (its run conf), refused unless every key is one a trigger may set.

    ``None`` values mean "use the configured value" (the trigger form sends every param). Values are checked
    by :func:`load_config` (type, finite, bounds), which runs before any MLflow run is opened.
    """
    out = {}
    for key, value in (conf or {}).items():
        if key in OPERATOR_KEYS:
            raise ConfigError(f"DAG param {excerpt(key)} is set by the operator (PIPELINE_CONFIG or the "
                              "environment of the deployment), not by a trigger")
        if key not in TRIGGER_KEYS:
            close = difflib.get_close_matches(str(key), TRIGGER_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown DAG param {excerpt(key)}{hint}; a trigger may set: {', '.join(TRIGGER_KEYS)}")
        if value is not None:
            out[key] = value
    return out
