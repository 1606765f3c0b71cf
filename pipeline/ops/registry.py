"""The model registry: versions, the ``champion`` and ``challenger`` aliases, the lock that serializes moving
champion, rollback, and the configuration a version was trained with."""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from pipeline import settings
from pipeline.config import LEGACY_MODEL_SETTINGS, MODEL_KEYS, Config, coerce
from pipeline.errors import NotFoundError
from pipeline.io import exclusive_lock
from pipeline.ops import signing

logger = logging.getLogger(__name__)

CHAMPION, CHALLENGER = "champion", "challenger"
# The tuned configuration of a registered model: versions of ``<name>_tuned`` (a config file each), alias ``tuned``.
TUNED, TUNED_SUFFIX, TUNED_FILE = "tuned", "_tuned", "tuned/config.json"


def __getattr__(name: str) -> Any:
    """Versions logged before the pyfunc had a module of its own load ``PanelModel`` from here (their entry point,
    ``mlflow_model.py``, runs against the installed package once ``pipeline`` is imported)."""
    if name == "PanelModel":
        from pipeline.ops.pyfunc import PanelModel

        return PanelModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    """Register the run's model, or return the version already registered from this run (idempotent). The version
    carries its logged model's signature (:mod:`pipeline.ops.signing`) as a tag, where the registry's page shows it."""
    if not _exists(client, name):
        client.create_registered_model(name, description="Monthly LSTM forecaster (pipeline/).")
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version = str(existing[0].version)
    else:
        version = str(client.create_model_version(name, model_uri, run_id=run_id,
                                                   model_id=signing.logged_model_id(model_uri)).version)
    signature = signing.version_signature(client, name, version)
    if signature:
        client.set_model_version_tag(name, version, signing.TAG, signature)
    return version


def champion_version(client: MlflowClient, name: str) -> str:
    """The champion's version, or :class:`NotFoundError` saying there is none yet."""
    version = alias_version(client, name, CHAMPION)
    if version is None:
        raise NotFoundError(f"registered model {name!r} has no champion yet: run the pipeline first (make run)")
    return version


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
    params = {**LEGACY_MODEL_SETTINGS, **client.get_run(version_run_id(client, name, version)).data.params}
    return dataclasses.replace(base, **{k: coerce(k, params[k]) for k in MODEL_KEYS if k in params})


def version_data_month(client: MlflowClient, name: str, version: str) -> str | None:
    """The last month (YYYY-MM) of the data a registered version was trained on (its run's ``data_month``)."""
    return client.get_run(version_run_id(client, name, version)).data.tags.get("data_month")


def newer_than(client: MlflowClient, name: str, version: str, data_month: str) -> str | None:
    """The last month of the data ``version`` was trained on when it is after ``data_month`` (a run of a past month
    must not take that version's place, nor publish its forecast of months it saw), else None."""
    trained_to = version_data_month(client, name, version)
    return trained_to if trained_to is not None and trained_to > data_month else None


def version_run_id(client: MlflowClient, name: str, version: str) -> str:
    """The MLflow run that logged a registered version (every version the pipeline registers has one)."""
    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        raise NotFoundError(f"{name} v{version} was registered without a run: not the pipeline's")
    return run_id


def tuned_name(name: str) -> str:
    """The registered model holding the tuned configurations of model ``name``."""
    return f"{name}{TUNED_SUFFIX}"


def register_tuned(client: MlflowClient, name: str, run_id: str, moved: bool) -> tuple[str, str | None]:
    """Register the configuration a tuning run logged (``tuned/config.json`` of ``run_id``) as a version of
    ``<name>_tuned`` (once per run); point alias ``tuned`` at it when ``moved``. Returns (version, alias before)."""
    registered = tuned_name(name)
    if not _exists(client, registered):
        client.create_registered_model(registered, description=f"Tuned model settings of {name} (lstm_tuning DAG): "
                                       "the monthly run takes the version of alias 'tuned' with tuned_config: latest.")
    before = alias_version(client, registered, TUNED)
    existing = client.search_model_versions(f"name='{registered}' and run_id='{run_id}'")
    version = (str(existing[0].version) if existing else
               str(client.create_model_version(registered, f"{client.get_run(run_id).info.artifact_uri}/tuned",
                                               run_id=run_id).version))
    if moved:
        client.set_registered_model_alias(registered, TUNED, version)
    return version, before


def tuned_settings(client: MlflowClient, name: str) -> tuple[str, dict[str, Any]] | None:
    """The version of alias ``tuned`` of model ``name`` and its file (``preset``, ``params``), or None when no tuning
    run has registered one."""
    import json

    import mlflow

    registered = tuned_name(name)
    version = alias_version(client, registered, TUNED)
    if version is None:
        return None
    run_id = client.get_model_version(registered, version).run_id
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=TUNED_FILE)
    with open(path, encoding="utf-8") as handle:
        return version, json.load(handle)


def now_iso() -> str:
    """Current UTC time, ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")
