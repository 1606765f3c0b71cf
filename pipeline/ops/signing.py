"""Models that cannot run code they did not ship: every model the pipeline logs is signed, an HMAC-SHA256 over the
SHA-256 of each of its files (weights, spec, the ``pipeline`` code and the MLmodel file MLflow runs), with a key
kept outside MLflow; a version is loaded only from a local copy whose signature was verified first, so none of a
tampered model's code runs.

The key: ``PIPELINE_MODEL_SIGNING_KEY`` (at least 32 characters; the deployments generate or require it), else the
file ``PIPELINE_MODEL_SIGNING_KEY_FILE``, else ``<state dir>/keys/model-signing.key``, made on first use
(:func:`pipeline.ops.keys.secret`: the embedded single-machine default). Whoever can write MLflow's artifacts or
tags cannot forge a signature without it; whoever holds it can sign, so only the processes that log or load models
get it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import ModelIntegrityError, StorageFullError
from pipeline.io import NO_ROOM, sha256_file
from pipeline.ops import keys

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

logger = logging.getLogger(__name__)

KEY_ENV = "PIPELINE_MODEL_SIGNING_KEY"
TAG = "pipeline.signature"
SCHEME = "hmac-sha256-v1"
# Written by MLflow into a registered version's local copy after the download (its name and version): not part of
# what was logged, and data that MLflow reads with a safe YAML loader.
DOWNLOAD_META = "registered_model_meta"


def signing_key() -> bytes:
    """The signing key (module docstring)."""
    return keys.secret(KEY_ENV, "model-signing.key").encode()


def manifest(folder: str | os.PathLike[str]) -> str:
    """One line per file of a model folder, sorted: its SHA-256 and relative path. A link or any file that is not a
    regular file is refused (it could point outside the folder)."""
    root = Path(folder)
    lines = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode) or relative == DOWNLOAD_META:
            continue
        if not stat.S_ISREG(mode):
            raise ModelIntegrityError(f"model file {relative} is not a regular file (a link?): refusing the model")
        lines.append(f"{sha256_file(path)}  {relative}\n")
    return "".join(lines)


def sign(folder: str | os.PathLike[str], key: bytes | None = None) -> str:
    """The signature of a model folder."""
    mac = hmac.new(key or signing_key(), manifest(folder).encode(), hashlib.sha256).hexdigest()
    return f"{SCHEME}:{mac}"


def verify(folder: str | os.PathLike[str], signature: str | None, what: str, key: bytes | None = None) -> None:
    """Refuse the model in ``folder`` (``what`` names it) unless ``signature`` is its signature under the key."""
    if not signature:
        raise ModelIntegrityError(f"{what} carries no signature ({TAG} tag): it was not logged by this deployment's "
                                  "pipeline, or it was logged before models were signed; refusing to load it (sign "
                                  "a version you trust: python -m pipeline sign-model VERSION)")
    if not hmac.compare_digest(sign(folder, key), str(signature)):
        raise ModelIntegrityError(f"{what}: its files do not match its signature (a file was added, changed or "
                                  "removed after it was logged, or it was signed with another key); refusing to "
                                  "load it: none of its code ran")


@contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """A fresh local copy of the model at ``uri`` in a private temporary folder (nobody else can change it between
    the check and the load), removed on leaving."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="model-") as folder:
        try:
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=folder)
        except Exception as exc:
            code = _no_room(exc)
            if code is None:
                raise
            raise StorageFullError(code, f"no room to write the local copy of {uri} in {folder} (made to verify its "
                                   "signature): the disk of the temporary folder is full or the process may not "
                                   "write larger files; nothing was replaced") from exc
        yield Path(folder)


def _no_room(exc: BaseException) -> int | None:
    """The errno of a full disk, quota or file-size limit behind ``exc`` (MLflow reports a failed download of many
    files as one exception whose message lists their errors), else None."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in NO_ROOM:
            return seen.errno
        seen = seen.__cause__ or seen.__context__
    found = re.search(r"\[Errno (\d+)\]", str(exc))
    return int(found[1]) if found and int(found[1]) in NO_ROOM else None


def sign_logged_model(client: MlflowClient, model_id: str) -> str:
    """Sign a model just logged (``models:/<model_id>``) as MLflow stored it; the signature is its tag."""
    with local_copy(f"models:/{model_id}") as folder:
        signature = sign(folder)
    client.set_logged_model_tags(model_id, {TAG: signature})
    return signature


def sign_version(client: MlflowClient, name: str, version: str) -> str:
    """Sign a registered version as it is stored now (an operator's trust in a version logged before signing, or by
    another deployment): the signature becomes its tag."""
    with local_copy(f"models:/{name}/{version}") as folder:
        signature = sign(folder)
    client.set_model_version_tag(name, version, TAG, signature)
    return signature


def logged_model_id(uri: str) -> str | None:
    """The logged model's id in a ``models:/m-...`` URI (MLflow 3's logged models), else None."""
    return uri.removeprefix("models:/") if uri.startswith("models:/m-") else None


def version_signature(client: MlflowClient, name: str, version: str) -> str | None:
    """A registered version's signature: its own tag, else its logged model's."""
    found = client.get_model_version(name, version)
    if found.tags.get(TAG):
        return str(found.tags[TAG])
    model_id = found.model_id or logged_model_id(str(found.source or ""))
    return client.get_logged_model(model_id).tags.get(TAG) if model_id else None


@contextmanager
def verified_version(client: MlflowClient, name: str, version: str) -> Iterator[Path]:
    """A local copy of registered version ``version`` of ``name`` whose signature was verified: load the model from
    it (never from the store again). Raises :class:`ModelIntegrityError` otherwise."""
    with local_copy(f"models:/{name}/{version}") as folder:
        verify(folder, version_signature(client, name, version), f"registered model {name} v{version}")
        logger.info("%s v%s: signature verified", name, version)
        yield folder
