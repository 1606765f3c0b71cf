"""Celery workers of the deployments (``[celery] celery_config_options = pipeline.worker.CELERY_CONFIG``):
Airflow's Celery settings with results stored again while the database restarts, and the pipeline's steps imported
once, when a worker starts.

An Airflow Celery worker forks a process for every task (Linux: ``os.fork``, no new interpreter), so what the worker
has imported, its tasks have too: without this, each of a run's tasks spent 5-10 s of CPU importing pandas,
torch and MLflow before doing its work. Only the worker imports them (Celery's ``worker_init`` signal): the
scheduler and the api-server, which read the same settings, stay light."""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

logger = logging.getLogger(__name__)

# Airflow's settings, and: a state the worker cannot store in the result backend (Airflow's database) while that
# database restarts is stored again, backing off up to 10 s a try for about 3 minutes, instead of failing the task
# before it starts (such a task would wait for the scheduler's task_queued_timeout, 300 s).
RESULT_RETRIES: dict[str, Any] = {"result_backend_always_retry": True, "result_backend_max_retries": 40,
                                  "result_backend_max_sleep_between_retries_ms": 10_000}
CELERY_CONFIG: dict[str, Any] = DEFAULT_CELERY_CONFIG | RESULT_RETRIES
# what the tasks import: the steps (pandas, numpy, MLflow), the network (torch), the MLflow model, the plots
PRELOADED = ("torch", "mlflow", "mlflow.pyfunc", "pipeline.steps", "pipeline.steps.train", "pipeline.steps.evaluate",
             "pipeline.steps.decide", "pipeline.steps.publish", "pipeline.model.sharded", "pipeline.ops.pyfunc",
             "pipeline.ops.plots")


def preload(modules: tuple[str, ...] = PRELOADED) -> float:
    """Import ``modules``; the seconds it took."""
    started = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return time.perf_counter() - started


@worker_init.connect
def _on_worker_init(**_: Any) -> None:
    logger.info("preloaded the pipeline's modules in %.1f s: tasks forked from this worker start with them",
                preload())
