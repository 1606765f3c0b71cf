"""Create (or keep) the pipeline's own account on an MLflow server that runs with ``--app-name basic-auth``.

Everything comes from the environment, nothing from the command line (which other users of the machine can read):

- ``MLFLOW_TRACKING_URI``: the server;
- ``MLFLOW_AUTH_ADMIN_USERNAME``, ``MLFLOW_AUTH_ADMIN_PASSWORD``: the admin account the server was started with;
- ``MLFLOW_TRACKING_USERNAME``, ``MLFLOW_TRACKING_PASSWORD``: the account to create (the one the pipeline uses).

The account is an ordinary user: it owns (may manage) the experiment and the registered model it creates; every
other signed-in user reads them (``default_permission = READ``); anonymous requests are refused. Exit 0 when the
account exists and its password works, 1 otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

ATTEMPTS = 4  # creating a user is idempotent here (an existing account answers 400/409), so a timeout is retried


def _request(url: str, user: str, password: str, body: dict | None = None) -> int:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (TimeoutError, urllib.error.URLError) as exc:  # a server busy hashing passwords on a loaded machine
            if attempt == ATTEMPTS:
                raise
            print(f"mlflow_user: {url}: {exc}; trying again ({attempt} of {ATTEMPTS})", file=sys.stderr)
            time.sleep(5 * attempt)
    raise AssertionError("unreachable")


def main() -> int:
    server = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    admin = os.environ["MLFLOW_AUTH_ADMIN_USERNAME"], os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
    user, password = os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    status = _request(f"{server}/api/2.0/mlflow/users/create", *admin, {"username": user, "password": password})
    if status not in (200, 201, 400, 409):  # 400/409: the account exists already
        print(f"mlflow_user: creating {user!r} on {server} failed with HTTP {status}", file=sys.stderr)
        return 1
    check = _request(f"{server}/api/2.0/mlflow/users/get?username={user}", user, password)
    if check != 200:
        print(f"mlflow_user: {user!r} cannot sign in to {server} (HTTP {check})", file=sys.stderr)
        return 1
    print(f"mlflow_user: {user!r} ready on {server}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
