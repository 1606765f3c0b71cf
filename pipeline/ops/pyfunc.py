"""The registered model as MLflow sees it: the pyfunc of a panel forecaster (history in, forecast table out), how
it is logged, and a registered version of any generation loaded as a forecaster of histories."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.pyfunc.model import PythonModel, PythonModelContext

import pipeline
from pipeline import domains
from pipeline.config import BOUNDS
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError, PipelineError, excerpt
from pipeline.model.candidates import served
from pipeline.model.windows import forecast_windows, last_windows
from pipeline.months import month_starts
from pipeline.ops import signing

if TYPE_CHECKING:  # torch loads only where a model is built or loaded
    from pipeline.model.sharded import ShardedForecaster


class PanelModel(PythonModel):
    """MLflow pyfunc of a panel forecaster: input a long table of history (columns series, month, value; any
    number of series, in any order, with values in the domain the model was trained on), output the next
    ``horizon`` months of each series (params ``horizon`` to change it): columns series, month, forecast, the
    interval bounds, model (``lstm``, or ``seasonal_naive`` where it fell back)."""

    def load_context(self, context: PythonModelContext) -> None:
        """Rebuild every shard's forecaster from its logged weights (``weights_only``) and spec, each verified
        against the checksum recorded in the MLflow model (``model_config``) and in its spec."""
        from pipeline.model.sharded import ShardedForecaster

        self.forecaster = ShardedForecaster.load(dict(context.artifacts),
                                                 (context.model_config or {}).get("weights_sha256"))

    def predict(self, context, model_input, params=None):
        """The forecast table of every series of the history in ``model_input``. A history or ``horizon`` the model
        cannot take raises MLflow's own exception (``INVALID_PARAMETER_VALUE``): a scoring server returns its
        message, naming series and month, to the client, never a stack trace."""
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        try:
            horizon = requested_horizon(params, self.forecaster.horizon)
            history = Panel.from_frame(model_input if isinstance(model_input, pd.DataFrame) else
                                       pd.DataFrame(model_input), domain=self.forecaster.domain)
            return self.forecaster.forecast(history, horizon)
        except PipelineError as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def requested_horizon(params: dict[str, Any] | None, default: int) -> int:
    """The ``horizon`` param (months to forecast), within the bounds of the ``horizon`` setting."""
    value = (params or {}).get("horizon")
    if value is None or value == "":
        return default
    low, high = BOUNDS["horizon"]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)) or not str(value).strip().isdigit() \
            or not low <= int(str(value).strip()) <= high:
        raise ConfigError(f"param 'horizon' must be a whole number of months from {low:g} to {high:g}, "
                          f"got {excerpt(value)}")
    return int(str(value).strip())


def _requirements() -> list[str]:
    from importlib.metadata import version

    import sklearn
    import torch

    return [f"mlflow=={mlflow.__version__}", f"torch=={torch.__version__.split('+')[0]}",
            f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}", f"pandas=={pd.__version__}",
            f"statsforecast=={version('statsforecast')}"]


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
                  "shards": len(forecaster.shards), "served": served(forecaster.choice),
                  "value_domain": forecaster.domain,
                  "weights_sha256": checksums})


class Published:
    """A registered version, whatever its generation, as a forecaster of histories: versions logged before
    panels took (n, lookback) windows; they are run series by series here."""

    def __init__(self, model: Any):
        self.model = model
        self.metadata = model.metadata.metadata or {}

    @property
    def domain(self) -> str:
        """The values the version was trained on and accepts (``positive`` for versions logged before domains)."""
        return str(self.metadata.get("value_domain", domains.POSITIVE))

    def forecast(self, history: Panel, steps: int) -> pd.DataFrame:
        """The table of :meth:`ShardedForecaster.forecast`: series, month, forecast, model."""
        if self.metadata.get("input") == "history":
            return self.model.predict(history.to_frame(), params={"horizon": steps})
        lookback = int(self.metadata["lookback"])
        values = forecast_windows(self.model.predict, last_windows(list(history), lookback), steps)
        months = [month_starts(history.end(i), steps).strftime("%Y-%m") for i in range(len(history))]
        return pd.DataFrame({"series": np.repeat(np.array(history.ids, dtype=object), steps),
                             "month": np.concatenate(months), "forecast": values.reshape(-1), "model": "lstm"})


def load_version(name: str, version: str) -> Published:
    """Load a registered version as a forecaster of histories: from a local copy whose signature was verified
    before any of its code ran (:func:`pipeline.ops.signing.verified_version`), its weights then checked against
    their checksums. The copy is removed once loaded (everything is read at load)."""
    from mlflow.tracking import MlflowClient

    with signing.verified_version(MlflowClient(), name, version) as folder:
        return Published(mlflow.pyfunc.load_model(str(folder)))
