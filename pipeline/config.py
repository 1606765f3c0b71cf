"""The pipeline's one configuration object, loaded from YAML and overridable by DAG params and CLI flags.

Each setting is declared once, as a field of :class:`Config` made by :func:`setting`: its default, its help text,
who may set it (the operator, or whoever may trigger the DAG too), whether it decides what a fit produces (a model
setting), its bounds or choices, and what it meant before it existed. Everything else is derived from those
declarations: the tables below, the DAG's params (``dags/``), the CLI's flags (``pipeline/cli.py``) and the
settings tables of the docs (:func:`settings_table`, checked by a test). ``defaults.yaml`` holds the presets only.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from pipeline import domains
from pipeline.errors import ConfigError, excerpt

OPERATOR, TRIGGER = "operator", "trigger"
_UNSET = object()
# Arithmetic of training: float32, or bfloat16 for the network's forward and backward (CPU autocast: about twice as
# fast where the CPU has bfloat16 instructions, such as AVX512-BF16; the weights stay float32).
PRECISIONS = ("fp32", "bf16")
# How an ensemble's networks combine, its losses, and the learning rate over training.
COMBINES, LOSSES, LR_SCHEDULES = ("mean", "median"), ("mse", "mae"), ("constant", "cosine")
# Backtest folds at the same calendar months for every series, or at each series' own last months.
ALIGNMENTS = ("calendar", "series_end")
# The preset of a run that names none: by the shape of its data.
PANEL_PRESET, SINGLE_PRESET = "lstm-global", "lstm-direct"
# The model settings of a monthly run: as configured, or the latest tuned ones (alias ``tuned``).
TUNED_CHOICES = ("", "latest")
TEXT = re.compile(r"[^\x00-\x1f\x7f]{1,1000}")
TEXT_RULE = "must be 1 to 1000 characters, none of them control characters"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
NAME_RULE = "must start with a letter or digit and hold only letters, digits, '_', '.', '-' (at most 100)"


@dataclass(frozen=True)
class Setting:
    """What the pipeline knows of one setting besides its default.

    ``who``: ``operator`` (the deployment: ``PIPELINE_CONFIG``, the environment, CLI flags on the host) or
    ``trigger`` (also whoever may trigger the DAG, within ``bounds`` or ``choices``). ``model``: two configs equal
    in their model settings train identical models. ``name_like``: an MLflow name (letters, digits, ``_.-``).
    ``required``: may not be empty. ``legacy``: the value a model version trained before the setting existed has.
    ``common``: one of the few settings a user changes (the README's table).
    """

    doc: str
    who: str = TRIGGER
    model: bool = False
    bounds: tuple[float, float] | None = None
    choices: tuple[str, ...] | None = None
    name_like: bool = False
    required: bool = False
    legacy: Any = _UNSET
    common: bool = False

    def __post_init__(self) -> None:
        if self.who not in (OPERATOR, TRIGGER):
            raise ValueError(f"who must be {OPERATOR!r} or {TRIGGER!r}, got {self.who!r}")


def parts(text: str) -> list[str]:
    """The comma-separated parts of a list setting, stripped (none of an empty one)."""
    return [part.strip() for part in text.split(",")] if text else []


def setting(default: Any, doc: str, **facts: Any) -> Any:
    """A field of :class:`Config`: its default, what it does, and the :class:`Setting` facts."""
    return dataclasses.field(default=default, metadata={"setting": Setting(doc, **facts)})


@dataclass(frozen=True)
class Config:
    """Every setting of a run. Frozen: a run's configuration never changes once resolved."""

    # the data and its limits (the operator's)
    csv_path: str = setting("data/AirPassengers.csv", "the monthly data: a CSV, a Parquet file or a folder of Parquet "
                            "files (relative to PIPELINE_HOME)", who=OPERATOR,
                            required=True, common=True)
    data_dir: str = setting("data", "CSV paths must resolve inside this folder (relative to PIPELINE_HOME)",
                            who=OPERATOR, required=True)
    allow_any_csv_path: bool = setting(False, "allow a CSV outside data_dir", who=OPERATOR)
    max_file_mb: int = setting(50, "a bigger file is refused before it is read", who=OPERATOR, bounds=(1, 2048))
    date_column: str = setting("Month", "the column of months (YYYY-MM or YYYY-MM-DD)", who=OPERATOR, required=True,
                               common=True)
    target_column: str = setting("#Passengers", "the column of values", who=OPERATOR, required=True, common=True)
    series_column: str = setting("", "a long CSV of many series: the column naming each row's series (empty: one "
                                 "series)", who=OPERATOR, common=True)
    title_column: str = setting("", "optional: a readable name of each series, shown in tables and the summary",
                                who=OPERATOR)
    max_quarantine_share: float = setting(0.1, "the run fails when more of the series than this share are "
                                          "quarantined (for data errors; inactive or too short series do not count)",
                                          who=OPERATOR, bounds=(0.0, 1.0))
    value_domain: str = setting("auto", "the values a series may take: positive, nonnegative (zeros), real (any "
                                "sign), or auto (inferred series by series and reported); a value outside a declared "
                                "domain is refused", who=OPERATOR, model=True, choices=domains.SETTINGS,
                                legacy=domains.POSITIVE, common=True)
    min_series_months: int = setting(24, "fewest months a series needs to be forecast and scored (shorter ones are "
                                     "reported, not modelled)", who=OPERATOR, bounds=(2, 1200))
    inactive_after: int = setting(12, "a series with no month among the panel's last this many is inactive: "
                                  "reported, not forecast (calendar folds only)", who=OPERATOR, bounds=(1, 1200))
    shard_size: int = setting(200, "series per shard: each shard trains one global network, its own mapped task",
                              who=OPERATOR, model=True, bounds=(1, 1_000_000))
    max_mapped_tasks: int = setting(1024, "Airflow's [core] max_map_length: the fit tasks stay within it "
                                    "(past it, each fits a few shards)", who=OPERATOR, bounds=(1, 100_000))
    # what the model reads and the backtest scores
    lookback: int = setting(12, "months of the relative view (each window against its last month; 0: no such "
                            "view)", model=True, bounds=(0, 240))
    seasonal_lookback: int = setting(6, "year-over-year changes of the seasonal view (0: no such view)", model=True,
                                     bounds=(0, 120), legacy=0)
    holdout: int = setting(12, "last months kept out of the final model's training and scored (and the champion "
                           "re-scored on)", bounds=(1, 120))
    val_size: int = setting(12, "last training windows of each series that validate (early stopping)", model=True,
                            bounds=(0, 120))
    season_length: int = setting(12, "months per season (seasonal naive, MASE, the seasonal view)", who=OPERATOR,
                                 model=True, bounds=(1, 24))
    horizon: int = setting(12, "months forecast from each backtest origin, and after the last data month",
                           bounds=(1, 60), common=True)
    folds: int = setting(3, "rolling-origin backtest folds, horizon months apart", bounds=(1, 24), common=True)
    fold_alignment: str = setting("calendar", "where the backtest folds sit: calendar (the same months for every "
                                  "series) or series_end (at each series' own last months, for unrelated series that "
                                  "end at different dates)", choices=ALIGNMENTS, common=True)
    preset: str = setting("", "a named set of model settings (pipeline/defaults.yaml); empty: lstm-global for a "
                          "panel (a series column), lstm-direct for one series", common=True)
    # the network and its training
    log_transform: bool = setting(True, "model the logs of the values", model=True)
    relative_windows: bool = setting(True, "each window relative to its last month", model=True)
    output_steps: int = setting(12, "months each forecast step predicts at once (1: recursive; 0: the whole "
                                "horizon)", model=True, bounds=(0, 60))
    level_lookback: str = setting("", "months of the level view's windows (each against the mean of its last "
                                  "season); several, comma-separated, make an ensemble over input lengths; empty: "
                                  "no such view", model=True, legacy="")
    deseasonalise: bool = setting(False, "the level view takes each window's significant seasonality out and puts "
                                  "it back on the forecast", model=True, legacy=False)
    theta_input: bool = setting(False, "the level view also reads Theta's forecast of each window and predicts its "
                                "correction", model=True, legacy=False)
    hidden_size: int = setting(64, "LSTM units per layer", model=True, bounds=(1, 1024))
    num_layers: int = setting(1, "stacked LSTM layers", model=True, bounds=(1, 8))
    dropout: float = setting(0.0, "dropout between LSTM layers", model=True, bounds=(0.0, 0.9))
    learning_rate: float = setting(0.007, "Adam's learning rate", model=True, bounds=(1e-6, 1.0))
    epochs: int = setting(300, "most epochs a network trains", model=True, bounds=(1, 5000), common=True)
    patience: int = setting(40, "epochs without a better validation loss before early stopping (0: none)",
                            model=True, bounds=(0, 5000))
    batch_size: int = setting(32, "windows per optimisation step", model=True, bounds=(1, 65536))
    ensemble_size: int = setting(5, "networks (seeds) per view, averaged", model=True, bounds=(1, 64))
    windows_per_series: int = setting(0, "latest training windows kept of each series (0: every window)",
                                      model=True, bounds=(0, 100_000), legacy=0)
    mase_loss: bool = setting(False, "weight each window's loss by its series' scale (the loss reads like MASE)",
                              model=True, legacy=False)
    loss: str = setting("mse", "the networks' training loss: mse or mae; several, comma-separated, cycle over the "
                        "ensemble's members", model=True, legacy="mse")
    combine: str = setting("mean", "how the networks' forecasts combine: mean or median", model=True,
                           choices=COMBINES, legacy="mean")
    lr_schedule: str = setting("constant", "the learning rate over training: constant, or cosine (annealed to zero "
                               "by the last step)", model=True, choices=LR_SCHEDULES, legacy="constant")
    warm_start: bool = setting(False, "each fit starts from the same fit's weights of last month's run",
                               model=True, legacy=False)
    warm_epochs: int = setting(0, "epochs of a warm-started network (0: epochs)", model=True, bounds=(0, 5000),
                               legacy=0)
    precision: str = setting("fp32", "training arithmetic: fp32, or bf16 (forward and backward in bfloat16)",
                             model=True, choices=PRECISIONS, legacy="fp32")
    seed: int = setting(42, "the first network's seed (the others: seed + 1, ...)", model=True,
                        bounds=(0, 2**31 - 1))
    statsforecast_candidates: bool = setting(True, "also the candidates built on statsforecast's models (ets, "
                                             "stats_median, lstm_stats): about 80 ms of CPU a series each time they "
                                             "forecast; off for a panel too large to afford them", model=True)
    # tuning (the lstm_tuning DAG, backtest --tune) and its use by the monthly run
    tune_trials: int = setting(20, "trials of a tuning run (the first scores the configuration in use)",
                               bounds=(1, 500))
    tune_minutes: float = setting(60.0, "no tuning trial starts after this many minutes of a tuning run",
                                  bounds=(1.0, 1440.0))
    tuned_config: str = setting("", "latest: the monthly run takes the model settings the lstm_tuning DAG "
                                "registered last (alias tuned) over the preset and config file; empty: the "
                                "configured values", choices=TUNED_CHOICES, common=True)
    # MLflow, the gate, intervals and alerts (the operator's)
    experiment_name: str = setting("lstm-monthly-retraining", "the MLflow experiment", who=OPERATOR, name_like=True,
                                   required=True)
    registered_model_name: str = setting("air_passengers_lstm", "the registered model (aliases champion, "
                                         "challenger)", who=OPERATOR, name_like=True, required=True, common=True)
    baseline_gate: bool = setting(True, "a candidate must also beat seasonal naive's backtest mean MASE to be "
                                  "champion", who=OPERATOR)
    stats_baselines: bool = setting(False, "also score statsforecast's AutoARIMA, AutoETS, AutoTheta in backtests, "
                                    "with their own intervals")
    live_mape_alert: float = setting(15.0, "alert when the champion's MAPE on the months since it was trained "
                                     "exceeds this (%)", who=OPERATOR, bounds=(0.0, 1000.0))
    interval_levels: str = setting("80,95", "prediction interval levels published with every forecast (percent)",
                                   who=OPERATOR)
    coverage_tolerance: float = setting(0.05, "no promotion when the backtest coverage of the widest interval is "
                                        "further from its level", who=OPERATOR, bounds=(0.0, 1.0))
    band_alert_p: float = setting(0.01, "alert when that many months outside the champion's widest interval is "
                                  "this improbable", who=OPERATOR, bounds=(0.0, 0.5))
    drift_level_z: float = setting(3.0, "drift when recent year-over-year growth is this many std from the "
                                   "history's", who=OPERATOR, bounds=(0.0, 100.0))
    drift_seasonal_corr: float = setting(0.8, "drift when the recent seasonal shape correlates less than this with "
                                         "the history's", who=OPERATOR, bounds=(-1.0, 1.0))

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value, meta = getattr(self, field.name), field.metadata["setting"]
            types: dict[str, type | tuple[type, ...]] = {"int": int, "float": (int, float), "str": str, "bool": bool}
            expected = types[str(field.type)]
            if (isinstance(value, bool) and field.type != "bool") or not isinstance(value, expected):
                raise ConfigError(f"config '{field.name}' must be {field.type}, got {excerpt(value)}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"config '{field.name}' must be a finite number, got {value}")
            if meta.bounds and not meta.bounds[0] <= value <= meta.bounds[1]:
                low, high = meta.bounds
                raise ConfigError(f"config '{field.name}' must be between {low} and {high}, got {value}")
            if meta.required and not value:
                raise ConfigError(f"config '{field.name}' may not be empty")
            if meta.choices and value not in meta.choices:
                raise ConfigError(f"config '{field.name}' must be one of {', '.join(meta.choices)}, "
                                  f"got {excerpt(value)}")
            if isinstance(value, str) and value and not (NAME if meta.name_like else TEXT).fullmatch(value):
                raise ConfigError(f"config '{field.name}' {NAME_RULE if meta.name_like else TEXT_RULE}, "
                                  f"got {excerpt(value)}")
        levels = parts(self.interval_levels)
        if not 1 <= len(levels) <= 4 or not all(part.isdigit() and 50 <= int(part) <= 99 for part in levels):
            raise ConfigError(f"config 'interval_levels' must be 1 to 4 comma-separated percentages from 50 to 99, "
                              f"got {excerpt(self.interval_levels)}")
        if not self.lookback and not self.seasonal_lookback and not self.level_lookback:
            raise ConfigError("config 'lookback', 'seasonal_lookback' and 'level_lookback' are all empty: the model "
                              "would read nothing")
        months = parts(self.level_lookback)
        if len(months) > 8 or not all(part.isdigit() and 1 <= int(part) <= 240 for part in months):
            raise ConfigError(f"config 'level_lookback' must be up to 8 comma-separated month counts from 1 to 240, "
                              f"got {excerpt(self.level_lookback)}")
        losses = parts(self.loss)
        if not 1 <= len(losses) <= 4 or not all(part in LOSSES for part in losses):
            raise ConfigError(f"config 'loss' must be 1 to 4 comma-separated of {', '.join(LOSSES)}, "
                              f"got {excerpt(self.loss)}")
        if self.min_series_months <= self.season_length:
            raise ConfigError(f"config 'min_series_months' must be above season_length ({self.season_length}): a "
                              f"series needs a season and a month to be scored, got {self.min_series_months}")
        if self.seasonal_lookback and self.output_steps > self.season_length:
            raise ConfigError(f"config 'seasonal_lookback' needs output_steps <= season_length "
                              f"({self.output_steps} > {self.season_length}); set seasonal_lookback: 0 (or "
                              f"output_steps: 0, the year-over-year view then predicting a season at a time)")

    @property
    def steps_out(self) -> int:
        """Months each network predicts at once: ``output_steps``, or the horizon when it is 0 (the year-over-year
        view's networks: at most a season)."""
        return self.output_steps or self.horizon

    @property
    def level_lookbacks(self) -> list[int]:
        """The level view's window lengths, in months (none: no level view)."""
        return [int(part) for part in parts(self.level_lookback)]

    @property
    def losses(self) -> list[str]:
        """The training losses the ensemble's members cycle over."""
        return parts(self.loss)

    @property
    def levels(self) -> tuple[int, ...]:
        """The prediction interval levels, in percent, ascending."""
        return tuple(sorted({int(part) for part in parts(self.interval_levels)}))

    @property
    def input_months(self) -> int:
        """Months of history the model reads per forecast (the widest of its views)."""
        return max(self.lookback, self.seasonal_lookback + self.season_length if self.seasonal_lookback else 0,
                   *self.level_lookbacks)

    @property
    def networks(self) -> int:
        """Networks a fit trains: ``ensemble_size`` per view (``lookback`` months, ``seasonal_lookback`` changes)."""
        return self.ensemble_size * (bool(self.lookback) + bool(self.seasonal_lookback) + len(self.level_lookbacks))

    def model_settings(self) -> dict[str, Any]:
        """The values that decide what a fit produces (two configs equal here train identical models)."""
        return {name: getattr(self, name) for name in MODEL_KEYS}

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every value (for XCom, MLflow params and JSON)."""
        return dataclasses.asdict(self)


# Derived from the declarations above: never written out a second time.
FIELDS = {field.name: field for field in dataclasses.fields(Config)}
SETTINGS: dict[str, Setting] = {name: field.metadata["setting"] for name, field in FIELDS.items()}
FIELD_NAMES = tuple(FIELDS)
# Inclusive bounds of every numeric setting, wherever it comes from (YAML, DAG params, CLI flags); the DAG's
# params carry the same bounds in their schema, so the trigger form refuses what the run would refuse.
BOUNDS = {name: s.bounds for name, s in SETTINGS.items() if s.bounds}
CHOICES = {name: s.choices for name, s in SETTINGS.items() if s.choices}
# Who may set what: the operator sets everything; whoever may trigger the DAG sets the trigger settings only.
OPERATOR_KEYS = tuple(name for name, s in SETTINGS.items() if s.who == OPERATOR)
TRIGGER_KEYS = tuple(name for name, s in SETTINGS.items() if s.who == TRIGGER)
MODEL_KEYS = tuple(name for name, s in SETTINGS.items() if s.model)
# What a registered tuned configuration may set: the model settings a trigger may set (not data or operator keys).
TUNABLE_KEYS = tuple(name for name in MODEL_KEYS if name in TRIGGER_KEYS)
# The params of the tuning DAG (its trigger may set these and nothing else).
TUNING_TRIGGER_KEYS = ("tune_trials", "tune_minutes", "seed", "preset", "tuned_config")
# What a model key meant before the key existed (a version trained then has no such param).
LEGACY_MODEL_SETTINGS = {name: s.legacy for name, s in SETTINGS.items() if s.legacy is not _UNSET}


def settings_table(common_only: bool = False) -> str:
    """The settings as a markdown table (name, the value one series and a panel get unless a preset is named, who
    sets it, bounds or choices, what it does): the docs' tables are this text (``python -m pipeline settings``)."""
    shapes = [presets()[SINGLE_PRESET], presets()[PANEL_PRESET]]
    rows = [f"| setting | one series (`{SINGLE_PRESET}`) | a panel (`{PANEL_PRESET}`) | set by | range | what it "
            "does |", "|---|---|---|---|---|---|"]
    for name, meta in ((name, meta) for name, meta in SETTINGS.items() if meta.common or not common_only):
        span = f"{meta.bounds[0]:g}..{meta.bounds[1]:g}" if meta.bounds else " / ".join(meta.choices or ())
        single, panel = (coerce(name, preset.get(name, FIELDS[name].default)) for preset in shapes)
        rows.append(f"| `{name}` | `{single!r}` | `{panel!r}` | "
                    f"{'operator' if meta.who == OPERATOR else 'operator, trigger'} | {span} | {meta.doc}"
                    f"{'; a model setting' if meta.model and not common_only else ''} |")
    return "\n".join(rows) + "\n"


def _read_yaml(text: str, origin: str) -> dict[str, Any]:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of settings, got {type(data).__name__}")
    return data


LISTS = ("interval_levels", "level_lookback")  # text settings that hold comma-separated numbers


def coerce(name: str, value: Any) -> Any:
    """Turn a string (from a CLI flag or env) into the field's type; typed values pass through."""
    kind = str(FIELDS[name].type)
    if name in LISTS and not isinstance(value, bool):  # YAML `95` or `[80, 95]` mean "95", "80,95"
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


def _defaults() -> dict[str, Any]:
    """The package's ``defaults.yaml``: the presets and the search spaces."""
    text = resources.files("pipeline").joinpath("defaults.yaml").read_text(encoding="utf-8")
    return _read_yaml(text, "pipeline/defaults.yaml")


def presets() -> dict[str, dict[str, Any]]:
    """The named model presets shipped with the package (``defaults.yaml``)."""
    named = _defaults()["presets"]
    for preset, values in named.items():
        unknown = sorted(set(values) - set(MODEL_KEYS))
        if unknown:
            raise ConfigError(f"pipeline/defaults.yaml: preset {preset!r} sets {unknown}, which are not model settings")
    return named


def search_spaces() -> dict[str, dict[str, Any]]:
    """The search space of each preset that can be tuned (``defaults.yaml``): a setting's list of choices, or its
    range (``low``, ``high``, ``log``)."""
    return _defaults().get("search_spaces") or {}


def load_config(path: str | os.PathLike[str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Resolve a Config: the fields' defaults < preset < YAML file at ``path`` < ``overrides``. A run that names no
    preset gets the panel model when its data has a series column, the single-series model otherwise.

    ``None`` values in ``overrides`` mean "not given" and are ignored.
    """
    named_presets = presets()
    user: dict[str, Any] = {}
    if path is not None:
        with open(path, encoding="utf-8") as handle:
            user = _read_yaml(handle.read(), str(path))
        user.pop("presets", None)
    explicit = {**user, **{k: v for k, v in (overrides or {}).items() if v is not None}}
    unknown = sorted(set(explicit) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(f"unknown config keys {unknown}; valid keys: {', '.join(FIELD_NAMES)}")
    preset = explicit.get("preset") or (PANEL_PRESET if explicit.get("series_column") else SINGLE_PRESET)
    explicit["preset"] = preset
    if preset not in named_presets:
        raise ConfigError(f"unknown preset {preset!r}; choose one of {sorted(named_presets)}")
    merged = {**named_presets[preset], **explicit}
    return Config(**{k: coerce(k, v) for k, v in merged.items()})
