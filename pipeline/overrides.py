"""Who may set what: the settings a DAG trigger or a registered tuned configuration asks for, checked against the
keys each may set (:data:`pipeline.config.TRIGGER_KEYS`, :data:`pipeline.config.TUNABLE_KEYS`) before anything is
read or opened."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.config import OPERATOR_KEYS, TRIGGER_KEYS, TUNABLE_KEYS
from pipeline.errors import ConfigError, excerpt


def trigger_overrides(conf: Mapping[str, Any] | None, allowed: Sequence[str] = TRIGGER_KEYS) -> dict[str, Any]:
    """The settings a DAG trigger asked for (its run conf), refused unless every key is one of ``allowed`` (the
    params of the DAG that was triggered: every trigger setting for the monthly DAG, :data:`TUNING_TRIGGER_KEYS`
    for the tuning DAG).

    ``None`` values mean "use the configured value" (the trigger form sends every param). Values are checked
    by :func:`load_config` (type, finite, bounds), which runs before any MLflow run is opened.
    """
    out = {}
    for key, value in (conf or {}).items():
        if key in OPERATOR_KEYS:
            raise ConfigError(f"DAG param {excerpt(key)} is set by the operator (PIPELINE_CONFIG or the "
                              "environment of the deployment), not by a trigger")
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown DAG param {excerpt(key)}{hint}; a trigger of this DAG may set: "
                              f"{', '.join(allowed)}")
        if value is not None:
            out[key] = value
    return out


def tuned_overrides(params: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """The settings of a registered tuned configuration (``origin`` names it), refused unless every key is a model
    setting a trigger may set (:data:`TUNABLE_KEYS`): whoever can register a version must not reach the operator's
    keys (data paths, limits, MLflow names, the gate)."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{origin}: 'params' must be a mapping of settings, got {type(params).__name__}")
    refused = sorted(str(key) for key in params if key not in TUNABLE_KEYS)
    if refused:
        raise ConfigError(f"{origin} sets {', '.join(excerpt(k) for k in refused)}: a tuned configuration may set "
                          f"model settings only ({', '.join(TUNABLE_KEYS)}); refused, nothing was read or trained")
    return dict(params)
