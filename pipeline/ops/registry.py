"""Step 6: the MLflow model flavour, registration, and the champion/challenger promotion gate."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

import pipeline
from pipeline import settings
from pipeline.config import LEGACY_MODEL_SETTINGS, MODEL_KEYS, Config, coerce
from pipeline.data.panel import Panel
from pipeline.errors import NotFoundError
from pipeline.io import exclusive_lock
from pipeline.model.windows import forecast_windows, last_windows
from pipeline.months import month_starts

if TYPE_CHECKING:  # torch loads only where a model is built or loaded
    from pipeline.model.sharded import ShardedForecaster

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


class PanelModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc of a panel forecaster: input a long table of history (columns series, month, value; any
    number of series, in any order), output the next ``horizon`` months of each series (params ``horizon`` to
    change it): columns series, month, forecast, model (``lstm``, or ``seasonal_naive`` where it fell back)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Rebuild every shard's forecaster from its logged weights (``weights_only``) and spec, each verified
        against the checksum recorded in the MLflow model (``model_config``) and in its spec."""
        from pipeline.model.sharded import ShardedForecaster

        self.forecaster = ShardedForecaster.load(dict(context.artifacts),
                                                 (context.model_config or {}).get("weights_sha256"))

    def predict(self, context, model_input, params=None):
        """The forecast table of every series of the history in ``model_input``."""
        history = Panel.from_frame(model_input if isinstance(model_input, pd.DataFrame) else
                                   pd.DataFrame(model_input))
        return self.forecaster.forecast(history, int((params or {}).get("horizon") or self.forecaster.horizon))


def _requirements() -> list[str]:
    import sklearn
    import torch

    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}",
            f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]


def log_forecaster(files: dict[str, str], example: Panel, forecaster: ShardedForecaster,
                   name: str = "model") -> mlflow.models.model.ModelInfo:
    """Log the panel forecaster as a pyfunc model with signature, ``horizon`` param and a history example."""
    frame = example.to_frame()
    signature = infer_signature(frame, forecaster.forecast(example), params={"horizon": forecaster.horizon})
    checksums = forecaster.checksums(files)
    return mlflow.pyfunc.log_model(
        name=name, python_model=str(Path(__file__).with_name("mlflow_model.py")), artifacts=files, signature=signature,
        input_example=frame, code_paths=[str(Path(pipeline.__file__).parent)],
        pip_requirements=_requirements(), model_config={"weights_sha256": checksums},
        metadata={"input": "history", "lookback": forecaster.lookback, "horizon": forecaster.horizon,
                  "shards": len(forecaster.shards), "fallback_series": len(forecaster.fallback),
                  "weights_sha256": checksums})


class Published:
    """A registered version, whatever its generation, as a forecaster of histories: versions logged before
    panels took (n, lookback) windows; they are run series by series here."""

    def __init__(self, model: Any):
        self.model = model
        self.metadata = model.metadata.metadata or {}

    def forecast(self, history: Panel, steps: int) -> pd.DataFrame:
        """The table of :meth:`ShardedForecaster.forecast`: series, month, forecast, model."""
        if self.metadata.get("input") == "history":
            return self.model.predict(history.to_frame(), params={"horizon": steps})
        lookback = int(self.metadata["lookback"])
        values = forecast_windows(self.model.predict, last_windows(list(history), lookback), steps)
        months = [month_starts(history.end(i), steps).strftime("%Y-%m") for i in range(len(history))]
        return pd.DataFrame({"series": np.repeat(np.array(history.ids, dtype=object), steps),
                             "month": np.concatenate(months), "forecast": values.reshape(-1), "model": "lstm"})


@dataclass(frozen=True)
class Scores:
    """A model's scores on this run's data: mean MASE over every series and backtest fold, and mean MASE over
    every series on the holdout months."""

    backtest_mase: float
    holdout_mase: float

    def finite(self) -> bool:
        """True when both scores are real numbers."""
        return math.isfinite(self.backtest_mase) and math.isfinite(self.holdout_mase)


@dataclass(frozen=True)
class Decision:
    """The promotion decision for one candidate version, with the scores it was based on."""

    model_name: str
    candidate_version: str
    candidate: Scores
    baseline_backtest_mase: float
    champion_version: str | None
    champion: Scores | None
    promoted: bool
    reason: str
    decided_at: str
    coverage: dict[str, float | None] | None = None

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for the model version (the audit trail shown in the MLflow UI)."""
        flat = {"candidate_version": self.candidate_version, "champion_version": self.champion_version,
                "baseline_backtest_mase": self.baseline_backtest_mase, "promoted": self.promoted,
                "reason": self.reason, "decided_at": self.decided_at}
        flat |= {f"candidate_backtest_{key}": value for key, value in (self.coverage or {}).items()}
        for who, scores in (("candidate", self.candidate), ("champion", self.champion)):
            for key, value in (asdict(scores) if scores else {"backtest_mase": None, "holdout_mase": None}).items():
                flat[f"{who}_{key}"] = value
        return {f"decision.{k}": str(v) for k, v in flat.items()}


def decide(candidate: Scores, baseline_backtest: float, champion: Scores | None, baseline_gate: bool,
           drift: bool = False, coverage: tuple[int, float | None, float] | None = None) -> tuple[bool, str]:
    """The promotion gate, on mean MASE over all series.

    A candidate must have finite scores, intervals whose backtest coverage is within the tolerance of their
    level (``coverage``: level in percent, the measured coverage or None when not measured, the tolerance) and (if
    gated) a lower backtest mean MASE than seasonal naive. It then replaces the champion when its backtest mean
    MASE on the same folds is lower; on equal backtests (the same configuration retrained on newer data) it must
    also do better on the same holdout months, except under data ``drift``, when only a better backtest promotes.
    """
    c, ch = candidate, champion
    if not c.finite():
        return False, f"candidate scores are not finite ({c})"
    if coverage is not None and coverage[1] is not None and abs(coverage[1] - coverage[0] / 100) > coverage[2]:
        level, measured, tolerance = coverage
        return False, (f"candidate's {level} % intervals covered {measured:.1%} of the backtest months, more than "
                       f"{tolerance:.0%} from {level} %: they are miscalibrated")
    if baseline_gate and not c.backtest_mase < baseline_backtest:
        return False, (f"candidate backtest MASE {c.backtest_mase:.4f} does not beat seasonal naive "
                       f"{baseline_backtest:.4f}")
    if ch is None:
        return True, f"no champion yet; candidate backtest MASE {c.backtest_mase:.4f}"
    if c.backtest_mase < ch.backtest_mase:
        return True, (f"candidate backtest MASE {c.backtest_mase:.4f} beats champion {ch.backtest_mase:.4f} "
                      "on the same folds")
    if c.backtest_mase > ch.backtest_mase:
        return False, (f"candidate backtest MASE {c.backtest_mase:.4f} is not better than champion "
                       f"{ch.backtest_mase:.4f} on the same folds")
    if drift:
        return False, (f"data drift: promotion needs a better backtest than the champion's "
                       f"{ch.backtest_mase:.4f}, got the same")
    if c.holdout_mase < ch.holdout_mase:
        return True, (f"same backtest MASE {c.backtest_mase:.4f}; candidate holdout MASE {c.holdout_mase:.4f} beats "
                      f"champion {ch.holdout_mase:.4f}")
    return False, (f"same backtest MASE {c.backtest_mase:.4f}; candidate holdout MASE {c.holdout_mase:.4f} is not "
                   f"better than champion {ch.holdout_mase:.4f}")


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to, or None (also when the registered model does not exist yet: a server
    with basic auth answers an alias request for a model it does not know with 403, not 404)."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE") or not _exists(client, name):
            return None
        raise


def _exists(client: MlflowClient, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return False
        raise
    return True


def register_version(client: MlflowClient, name: str, model_uri: str, run_id: str) -> str:
    """Register the run's model, or return the version already registered from this run (idempotent)."""
    if not _exists(client, name):
        client.create_registered_model(name, description="Monthly LSTM forecaster (pipeline/).")
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        return str(existing[0].version)
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    return str(client.create_model_version(name, model_uri, run_id=run_id, model_id=model_id).version)


def champion_version(client: MlflowClient, name: str) -> str:
    """The champion's version, or :class:`NotFoundError` saying there is none yet."""
    version = alias_version(client, name, CHAMPION)
    if version is None:
        raise NotFoundError(f"registered model {name!r} has no champion yet: run the pipeline first (make run)")
    return version


def load_version(name: str, version: str) -> Published:
    """Load a registered version through the registry (checksums verified) as a forecaster of histories."""
    return Published(mlflow.pyfunc.load_model(f"models:/{name}/{version}"))


@contextmanager
def champion_lock(name: str) -> Iterator[None]:
    """Serialize decisions that move ``champion`` of ``name`` between processes sharing the state folder.

    A file lock: it covers every worker of one host or of a shared state volume (the compose file mounts one);
    across hosts without shared state, the alias re-read before and after the move remains the guard.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    with exclusive_lock(settings.state_dir() / "locks" / f"{safe}.champion.lock"):
        yield


def move_champion(client: MlflowClient, name: str, expected: str | None, version: str) -> str | None:
    """Point ``champion`` at ``version`` if it still points at ``expected``; None when moved, else why not.

    Call under :func:`champion_lock`; the re-reads before and after the write guard hosts that do not share it.
    """
    current = alias_version(client, name, CHAMPION)
    if current != expected:
        return f"champion moved to v{current} while deciding; not promoted"
    client.set_registered_model_alias(name, CHAMPION, version)
    winner = alias_version(client, name, CHAMPION)
    if winner != version:
        return f"lost a race: champion moved to v{winner}; not promoted"
    return None


def rollback(client: MlflowClient, name: str, reason: str) -> tuple[str, str]:
    """Move ``champion`` back to the version the current champion replaced; record why on both versions.

    Returns (demoted version, restored version).
    """
    with champion_lock(name):
        return _rollback(client, name, reason)


def _rollback(client: MlflowClient, name: str, reason: str) -> tuple[str, str]:
    current = alias_version(client, name, CHAMPION)
    if current is None:
        raise NotFoundError(f"registered model {name!r} has no champion to roll back")
    previous = client.get_model_version(name, current).tags.get("decision.champion_version")
    if previous in (None, "None", current):
        raise NotFoundError(f"champion v{current} of {name!r} replaced no earlier champion; nothing to roll back to")
    at = now_iso()
    client.set_registered_model_alias(name, CHAMPION, previous)
    for version, tags in ((current, {"rollback.demoted_at": at, "rollback.reason": reason,
                                     "rollback.restored": previous}),
                          (previous, {"rollback.restored_at": at, "rollback.reason": reason,
                                      "rollback.demoted": current})):
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
    logger.warning("%s: champion rolled back from v%s to v%s (%s)", name, current, previous, reason)
    return current, previous


def version_config(client: MlflowClient, name: str, version: str, base: Config) -> Config:
    """The configuration a registered version was trained with (its run's params), over ``base``."""
    run_id = client.get_model_version(name, version).run_id
    params = {**LEGACY_MODEL_SETTINGS, **client.get_run(run_id).data.params}
    return dataclasses.replace(base, **{k: coerce(k, params[k]) for k in MODEL_KEYS if k in params})


def now_iso() -> str:
    """Current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")
