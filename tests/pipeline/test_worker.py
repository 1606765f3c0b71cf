"""The Celery workers' settings: Airflow's own, and the pipeline's modules imported when a worker starts, never
when the scheduler or the api-server read the settings."""

import subprocess
import sys

from tests.conftest import ROOT


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]  # after what Airflow logs to stdout


def test_the_settings_are_airflows_and_reading_them_imports_nothing_heavy():
    out = run("import sys; from pipeline.worker import CELERY_CONFIG as c; "
              "from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG as d; "
              "print(c == d, 'torch' in sys.modules, 'pipeline.steps' in sys.modules)")
    assert out == "True False False"


def test_a_starting_worker_imports_what_the_tasks_need():
    out = run("import sys; from celery.signals import worker_init; import pipeline.worker; "
              "worker_init.send(sender=None); "
              "print(all(m in sys.modules for m in ('torch', 'mlflow.pyfunc', 'pipeline.steps.train')))")
    assert out == "True"
