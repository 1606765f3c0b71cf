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
              "print(all(c[k] == v for k, v in d.items()), sorted(set(c) - set(d)), "
              "'torch' in sys.modules, 'pipeline.steps' in sys.modules)")
    retries = ["result_backend_always_retry", "result_backend_max_retries",
               "result_backend_max_sleep_between_retries_ms"]
    assert out == f"True {retries} False False"


def test_a_result_is_stored_again_while_the_database_is_away(tmp_path):
    """Celery's own database backend with these settings, on a SQLite file another connection holds locked for a
    while (a database restarting): the state is stored once it can be, not lost."""
    out = run(f"""
import sqlite3, threading, time
from celery import Celery
from pipeline.worker import CELERY_CONFIG
db = {str(tmp_path / "results.db")!r}
app = Celery(broker="memory://", backend="db+sqlite:///" + db)
app.conf.update({{k: v for k, v in CELERY_CONFIG.items() if k.startswith("result_backend_")}}
                | {{"result_backend_max_sleep_between_retries_ms": 200,
                   "database_engine_options": {{"connect_args": {{"timeout": 0.05}}}}}})
backend = app.backend
backend.store_result("before", 1, "SUCCESS")
lock = sqlite3.connect(db, check_same_thread=False)
lock.execute("BEGIN EXCLUSIVE")  # every write fails with an OperationalError, as while the database is down
threading.Timer(1.5, lock.rollback).start()
started = time.monotonic()
backend.store_result("during", 2, "STARTED")
print(backend.get_task_meta("during")["status"], time.monotonic() - started > 1)
""")
    assert out == "STARTED True"


def test_a_starting_worker_imports_what_the_tasks_need():
    out = run("import sys; from celery.signals import worker_init; import pipeline.worker; "
              "worker_init.send(sender=None); "
              "print(all(m in sys.modules for m in ('torch', 'mlflow.pyfunc', 'pipeline.steps.train')))")
    assert out == "True"
