"""MLflow tracking helpers: the store, the experiment, and one run per pipeline run (reused on re-runs)."""

from __future__ import annotations

import logging
import math
import os
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline import settings
from pipeline.config import Config
from pipeline.errors import NotFoundError, TrackingUnavailableError
from pipeline.metrics import LSTM
from pipeline.model.candidates import fallbacks

logger = logging.getLogger(__name__)

RUN_KEY_TAG = "pipeline.run_key"
# What an experiment holds, as the MLflow UI reads it: model training (the UI opens on its runs)
EXPERIMENT_KIND_TAG, TRAINING_KIND = "mlflow.experimentKind", "custom_model_development"


HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "60"}


def configure() -> MlflowClient:
    """Point MLflow at ``MLFLOW_TRACKING_URI`` (or the local SQLite default) and return a client.

    A server URI is checked first (``/health``), so an outage fails the step at once with a clear
    :class:`TrackingUnavailableError` instead of minutes of client retries; Airflow then retries the task.
    """
    uri = settings.tracking_uri()
    if uri.startswith("sqlite:///"):
        settings.state_dir().mkdir(parents=True, exist_ok=True)
    elif uri.startswith(("http://", "https://")):
        for key, value in HTTP_DEFAULTS.items():
            os.environ.setdefault(key, value)
        check_server(uri)
    mlflow.set_tracking_uri(uri)
    return MlflowClient(tracking_uri=uri)


def existing_store() -> MlflowClient:
    """A client of a store that already exists: a command that only reads (forecast, rollback) must not create
    an empty SQLite store where there was none."""
    uri = settings.tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise NotFoundError(f"no MLflow store at {uri}: run the pipeline first (make run), or set "
                            "MLFLOW_TRACKING_URI to the deployment's server")
    return configure()


def check_server(uri: str, timeout: float = 10.0) -> None:
    """Raise :class:`TrackingUnavailableError` unless the tracking server answers its health check."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingUnavailableError(f"MLflow tracking server {uri} is unreachable ({problem}); "
                                   "nothing was registered; the task will be retried")


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, creating it (artifacts in the state folder for a local store) if needed. It says that it
    holds model training (MLflow's experiment-kind tag, also set on an experiment made before it was): the UI opens
    it on its training runs, not on the GenAI pages of traces."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.tags.get(EXPERIMENT_KIND_TAG) != TRAINING_KIND:
            client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, TRAINING_KIND)
        return experiment.experiment_id
    location = None
    if settings.tracking_uri().startswith("sqlite:"):
        location = (settings.artifact_root() / name).as_uri()
    return client.create_experiment(name, artifact_location=location, tags={EXPERIMENT_KIND_TAG: TRAINING_KIND})


def ui_link(experiment_id: str, run_id: str | None = None) -> str:
    """The MLflow UI's page of the experiment's training runs (or of one run), in its model-training view: MLflow 3's
    UI opens every experiment on its GenAI pages unless the link (or the switch at its top) says otherwise."""
    page = f"/runs/{run_id}" if run_id else "/runs"
    return f"{settings.mlflow_ui_url()}/#/experiments/{experiment_id}{page}?workflowType=machine_learning"


def open_run(client: MlflowClient, experiment_name: str, run_key: str, run_name: str,
             tags: Mapping[str, str]) -> str:
    """Return the run tagged with ``run_key``, creating it the first time: re-runs reuse, never duplicate."""
    experiment_id = ensure_experiment(client, experiment_name)
    found = client.search_runs([experiment_id], filter_string=f"tags.`{RUN_KEY_TAG}` = '{run_key}'",
                               max_results=1)
    if found:
        logger.info("reusing MLflow run %s for %s", found[0].info.run_id, run_key)
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=run_name, tags={RUN_KEY_TAG: run_key, **tags})
    logger.info("created MLflow run %s (%s) for %s", run.info.run_id, run_name, run_key)
    return run.info.run_id


@contextmanager
def resume(run_id: str) -> Iterator[mlflow.ActiveRun]:
    """Make ``run_id`` the active run for one step; an exception marks it FAILED. The run's own experiment is made
    the active one first: a process that set another one (a notebook, an earlier step) cannot refuse the resume."""
    client = configure()
    mlflow.set_experiment(experiment_id=client.get_run(run_id).info.experiment_id)
    with mlflow.start_run(run_id=run_id) as run:
        yield run


def log_params(params: Mapping[str, Any]) -> None:
    """Log every value as a param (None as the string 'None')."""
    mlflow.log_params({k: "None" if v is None else v for k, v in params.items()})


def log_series(client: MlflowClient, run_id: str, series: Mapping[str, list[float]]) -> None:
    """Log per-epoch values with ``step`` = epoch, in batches, skipping non-finite values."""
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(value), now, step)
               for key, values in series.items()
               for step, value in enumerate(values, start=1) if math.isfinite(value)]
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start:start + 1000])


TABLE_VIEW_ROWS = 100_000  # rows of a per-series table MLflow's UI shows as a table (its JSON grows with them)


def log_result_table(table: pd.DataFrame, artifact: str) -> None:
    """Log a per-series result table to the active run: as Parquet always (``<artifact>`` with a ``.parquet``
    suffix: every row, typed, for analysts' tools), and as MLflow's table view (``<artifact>``, JSON, shown in the
    UI) while it has at most :data:`TABLE_VIEW_ROWS` rows."""
    import tempfile

    folder, name = os.path.split(artifact)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{os.path.splitext(name)[0]}.parquet"
        table.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), folder or None)
    if len(table) <= TABLE_VIEW_ROWS:
        mlflow.log_table(table, artifact)
    else:
        logger.info("%s: %d rows, over the %d of MLflow's table view: logged as Parquet only", artifact, len(table),
                    TABLE_VIEW_ROWS)


def log_dataset(frame: pd.DataFrame, source: str, name: str, sha256: str) -> None:
    """Log the clean panel (series, month, value) as the run's training dataset (source file, digest of the
    as-of data)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        from mlflow.data.pandas_dataset import from_pandas

        dataset = from_pandas(frame, source=source, name=name, targets="value", digest=sha256[:16])
    mlflow.log_input(dataset, context="training")


def previous_run(client: MlflowClient, experiment_name: str, run_id: str) -> Any:
    """The latest finished monthly run of the experiment other than ``run_id`` (or None)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], "tags.kind = 'monthly' and attributes.status = 'FINISHED'",
                              order_by=["attributes.start_time DESC"], max_results=5)
    return next((r for r in runs if r.info.run_id != run_id), None)


def metric_name(model: str, metric: str) -> str:
    """``lstm`` -> ``backtest_mase``; baselines -> ``backtest_<model>_mase`` (the same names on every run)."""
    return f"backtest_{metric}" if model == LSTM else f"backtest_{model.lower()}_{metric}"


def backtest_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """A backtest summary's run metrics: each model's means and median MASE, the shares of series-folds won."""
    return ({metric_name(m, k): v for m, scores in summary["mean"].items() for k, v in scores.items()}
            | {metric_name(m, "mase_median"): v for m, v in summary["median_mase"].items()}
            | {key: value for key, value in summary.items() if key.startswith("share_beats_")})


def served_metrics(served: Mapping[str, int]) -> dict[str, float]:
    """``series_<candidate>``: how many series each candidate serves; ``series_fallback``: how many another
    candidate than the LSTM alone."""
    return ({f"series_{model}": float(n) for model, n in served.items()}
            | {"series_fallback": float(fallbacks(served))})


def chart_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """The figures analysts compare across months, grouped as MLflow's UI draws them (a section of charts a prefix
    before ``/``, above the other metrics): each candidate's backtest MASE and MAPE (``backtest_mase/theta``), the
    share of series each serves (``series_share/lstm``) and each one's backtest interval coverage
    (``interval_coverage/lstm_80``; the holdout's is :func:`holdout_chart_metrics`)."""
    means: Mapping[str, Mapping[str, float]] = summary["mean"]
    served: Mapping[str, int] = summary["served"]
    total = sum(served.values())
    return ({f"{group}/{model}": scores[metric] for model, scores in means.items()
             for group, metric in (("backtest_mase", "mase"), ("backtest_mape", "mape")) if metric in scores}
            | {f"series_share/{model}": count / total for model, count in served.items() if total}
            | {f"interval_coverage/{model}_{key.removeprefix('coverage_')}": value for model, scores in means.items()
               for key, value in scores.items() if key.startswith("coverage_")})


def holdout_chart_metrics(scores: Mapping[str, float]) -> dict[str, float]:
    """The holdout's interval coverage beside the backtest's (``interval_coverage/holdout_80``)."""
    return {f"interval_coverage/holdout_{key.removeprefix('holdout_coverage_')}": value
            for key, value in scores.items() if key.startswith("holdout_coverage_")}


def log_fold_runs(parent_run_id: str, run_key: str, data_month: str, cfg: Config,
                  folds: list[dict[str, Any]]) -> None:
    """One nested run per backtest fold under the month's run (re-runs reuse them): its months and its scores."""
    client = configure()
    for fold in folds:
        child = open_run(client, cfg.experiment_name, f"{run_key}/fold-{fold['fold']}",
                         f"{data_month} fold {fold['fold']} (train to {fold['train_end']})",
                         {"mlflow.parentRunId": parent_run_id, "fold": str(fold["fold"]), "data_month": data_month,
                          "preset": cfg.preset, "kind": "backtest-fold"})
        with resume(child):
            mlflow.log_params({"fold": fold["fold"], "train_end": fold["train_end"], "series": fold["series"]})
            mlflow.log_metrics({metric_name(m, k): v for m, scores in fold.items() if isinstance(scores, dict)
                                for k, v in scores.items()})
