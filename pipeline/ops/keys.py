"""The pipeline's own secrets (the model signing key, the scoring server's token): from the environment in a
deployment, else a file made on first use in the state folder (the embedded single-machine default)."""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

from pipeline import settings
from pipeline.errors import ConfigError

logger = logging.getLogger(__name__)

MIN_CHARS = 32


def secret(env: str, default_file: str) -> str:
    """``$env`` if set, else the contents of the file ``$env_FILE``, else ``<state dir>/keys/<default_file>``
    (random, mode 600, made by the first process that needs it). One shorter than 32 characters is refused, naming
    where it came from."""
    value, origin = os.environ.get(env, "").strip(), env
    if not value and os.environ.get(f"{env}_FILE"):
        origin = os.environ[f"{env}_FILE"]
        value = Path(origin).read_text(encoding="utf-8").strip()
    if not value:
        path = key_path(default_file)
        origin = str(path)
        value = _made(path)
    if len(value) < MIN_CHARS:
        raise ConfigError(f"the secret from {origin} has {len(value)} characters: at least {MIN_CHARS} are needed "
                          "(generate one: openssl rand -hex 32)")
    return value


def key_path(name: str) -> Path:
    """Where the state folder keeps secret ``name``."""
    return settings.state_dir() / "keys" / name


def _made(path: Path) -> str:
    """The secret in ``path``; the first process to need it writes a random one to a private file and links it in
    place (atomic: a process racing it reads the whole secret, never a half-written one)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        descriptor, draft = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 600
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_hex(32))
            os.link(draft, path)
            logger.info("made the secret %s (mode 600; a deployment sets it in the environment instead)", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text(encoding="utf-8").strip()
