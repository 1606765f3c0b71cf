"""Refuse to start a deployment with a missing, placeholder or short secret, naming the variable.

    python scripts/check_secrets.py NAME...      # each NAME read from the environment

Used by scripts/services.sh (on its generated secrets.env) and by the compose file's ``secrets-check`` service,
which every other service waits for. A secret must be set, at least 16 characters long, and not a placeholder or
a word anyone would try first (CHANGE_ME, changeme, admin, password, secret, airflow, mlflow, ...). Exit 0 when
every secret passes, 1 otherwise (the message lists each one refused, never its value).
"""

from __future__ import annotations

import os
import re
import sys

MIN_CHARS = 16
GUESSABLE = re.compile(r"change[_-]?me|changeit|placeholder|example|password|passw0rd|secret|admin|airflow|mlflow|"
                       r"postgres|redis|letmein|qwerty|xxxx", re.IGNORECASE)


def problem(value: str | None) -> str | None:
    """Why a secret is refused, or None."""
    if not value:
        return "is not set"
    if GUESSABLE.search(value):
        return "is a placeholder or a guessable word"
    if len(value) < MIN_CHARS:
        return f"has {len(value)} characters (at least {MIN_CHARS})"
    if len(set(value)) < 6:
        return "repeats a few characters"
    return None


def main(names: list[str]) -> int:
    refused = [f"{name} {why}" for name in names if (why := problem(os.environ.get(name)))]
    for line in refused:
        print(f"check_secrets: {line}", file=sys.stderr)
    if refused:
        print("check_secrets: refusing to start: generate each with `openssl rand -hex 32` (the Fernet key: "
              "python -c \"import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())\")",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
