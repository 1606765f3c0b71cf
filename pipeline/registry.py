"""Step 6: the MLflow model flavour, registration, and the champion/challenger promotion gate."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.tracking import MlflowClient

import pipeline
from pipeline.model import Forecaster

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"


class ForecasterModel(mlflow.pyfunc.PythonModel):
    """MLflow pyfunc: input (n, lookback) windows of raw monthly values, output (n,) next-month values."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        """Rebuild the forecaster from the logged weights (``weights_only``) and spec."""
        self.forecaster = Forecaster.load(context.artifacts["weights"], context.artifacts["spec"])

    def predict(self, context, model_input, params=None):
        """Predict the month after each window: (n, lookback) values -> (n,) values."""
        values = model_input.to_numpy() if isinstance(model_input, pd.DataFrame) else np.asarray(model_input)
        return self.forecaster.predict_next(values.astype(float))


def _requirements() -> list[str]:
    import sklearn
    import torch

    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}",
            f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}"]


def log_forecaster(files: dict[str, str], example_windows: np.ndarray, forecaster: Forecaster,
                   name: str = "model") -> mlflow.models.model.ModelInfo:
    """Log the forecaster as a pyfunc model with signature and a multi-window input example."""
    example = np.asarray(example_windows, dtype=float)
    signature = infer_signature(example, forecaster.predict_next(example))
    return mlflow.pyfunc.log_model(
        name=name, python_model=str(Path(__file__).with_name("mlflow_model.py")), artifacts=files, signature=signature,
        input_example=example, code_paths=[str(Path(pipeline.__file__).parent)],
        pip_requirements=_requirements(), metadata={"lookback": forecaster.lookback})


@dataclass(frozen=True)
class Decision:
    """The promotion decision for one candidate version, with the scores it was based on."""

    model_name: str
    candidate_version: str
    candidate_mape: float
    baseline_mape: float
    champion_version: str | None
    champion_mape: float | None
    promoted: bool
    reason: str
    decided_at: str

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for the model version."""
        return {f"decision.{k}": str(v) for k, v in asdict(self).items() if k != "model_name"}


def decide(candidate: float, baseline: float, champion: float | None, baseline_gate: bool) -> tuple[bool, str]:
    """Promote only a finite candidate that beats the champion (strictly) and, if gated, the baseline."""
    if not math.isfinite(candidate):
        return False, f"candidate MAPE is not finite ({candidate})"
    if baseline_gate and not candidate < baseline:
        return False, f"candidate MAPE {candidate:.3f} does not beat seasonal naive {baseline:.3f}"
    if champion is None:
        return True, f"no champion yet; candidate MAPE {candidate:.3f}"
    if not candidate < champion:
        return False, f"candidate MAPE {candidate:.3f} is not better than champion {champion:.3f}"
    return True, f"candidate MAPE {candidate:.3f} beats champion {champion:.3f}"


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version an alias points to, or None."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def register_version(client: MlflowClient, name: str, model_uri: str, run_id: str) -> str:
    """Register the run's model, or return the version already registered from this run (idempotent)."""
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description="Monthly LSTM forecaster (pipeline/).")
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        return str(existing[0].version)
    return str(client.create_model_version(name, model_uri, run_id=run_id).version)


def load_version(name: str, version: str) -> tuple[Any, int]:
    """Load a registered version through the registry; returns (pyfunc model, lookback)."""
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return model, int(model.metadata.metadata["lookback"])


def now_iso() -> str:
    """Current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")
