"""The pipeline's one configuration object, loaded from YAML and overridable by DAG params and CLI flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Frozen: a run's configuration never changes once resolved."""

    csv_path: str = "data/AirPassengers.csv"
    date_column: str = "Month"
    target_column: str = "#Passengers"
    lookback: int = 60
    holdout: int = 12
    val_size: int = 12
    season_length: int = 12
    forecast_horizon: int = 12
    preset: str = "pytorch-seed"
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.0
    learning_rate: float = 0.01
    epochs: int = 100
    batch_size: int = 32
    seed: int = 42
    experiment_name: str = "lstm-monthly-retraining"
    registered_model_name: str = "air_passengers_lstm"
    baseline_gate: bool = True

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[str(field.type)]
            if (isinstance(value, bool) and field.type != "bool") or not isinstance(value, expected):
                raise ConfigError(f"config '{field.name}' must be {field.type}, got {value!r}")
        positive = ("lookback", "holdout", "season_length", "forecast_horizon", "hidden_size",
                    "num_layers", "epochs", "batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"config '{name}' must be >= 1, got {getattr(self, name)}")
        if self.val_size < 0:
            raise ConfigError(f"config 'val_size' must be >= 0, got {self.val_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"config 'dropout' must be in [0, 1), got {self.dropout}")
        if self.learning_rate <= 0:
            raise ConfigError(f"config 'learning_rate' must be > 0, got {self.learning_rate}")

    @property
    def min_rows(self) -> int:
        """Fewest data months that leave one training window beside validation and holdout."""
        return self.lookback + self.val_size + 1 + self.holdout

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every value (for XCom, MLflow params and JSON)."""
        return dataclasses.asdict(self)


FIELD_NAMES = tuple(f.name for f in dataclasses.fields(Config))


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _coerce(name: str, value: Any) -> Any:
    """Turn a string (from a CLI flag or env) into the field's type; typed values pass through."""
    kind = {f.name: str(f.type) for f in dataclasses.fields(Config)}[name]
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
    return Config(**{k: _coerce(k, v) for k, v in merged.items()})
