"""Create (or keep) the pipeline's accounts on an MLflow server that runs with ``--app-name basic-auth``, and the
names the pipeline writes, owned by it alone.

Everything comes from the environment, nothing from the command line (which other users of the machine can read):

- ``MLFLOW_TRACKING_URI``: the server;
- ``MLFLOW_AUTH_ADMIN_USERNAME``, ``MLFLOW_AUTH_ADMIN_PASSWORD``: the admin account the server was started with;
- ``MLFLOW_TRACKING_USERNAME``, ``MLFLOW_TRACKING_PASSWORD``: the account to create (the one the pipeline uses);
- ``MLFLOW_SCORER_PASSWORD``: the scoring server's account, ``scorer`` (optional): it only reads;
- ``PIPELINE_CONFIG``: the deployment config, whose experiment and registered model names are created here.

The accounts are ordinary users: every signed-in user reads everything (``default_permission = READ``); anonymous
requests are refused. The pipeline's experiments (``<experiment_name>``, ``<experiment_name>-tuning``) and
registered models (``<registered_model_name>``, ``<registered_model_name>_tuned``) are created here by the pipeline's
account, so that it alone may write them (another account that created one of the names first could register
versions the pipeline would load): a name owned by another account is refused. Exit 0 when every account signs in
and the pipeline manages every name, 1 otherwise.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ATTEMPTS = 4  # creating a user is idempotent here (an existing account answers 400/409), so a timeout is retried


def _request(url: str, user: str, password: str, body: dict | None = None) -> int:
    return _call(url, user, password, body)[0]


def _call(url: str, user: str, password: str, body: dict | None = None) -> tuple[int, dict]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                     method="POST" if body is not None else "GET",
                                     headers={"Authorization": f"Basic {token}", "Content-Type": "application/json"})
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, {}
        except (TimeoutError, urllib.error.URLError) as exc:  # a server busy hashing passwords on a loaded machine
            if attempt == ATTEMPTS:
                raise
            print(f"mlflow_user: {url}: {exc}; trying again ({attempt} of {ATTEMPTS})", file=sys.stderr)
            time.sleep(5 * attempt)
    raise AssertionError("unreachable")


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _account(server: str, admin: tuple[str, str], user: str, password: str) -> bool:
    status = _request(f"{server}/api/2.0/mlflow/users/create", *admin, {"username": user, "password": password})
    if status not in (200, 201, 400, 409):  # 400/409: the account exists already
        print(f"mlflow_user: creating {user!r} on {server} failed with HTTP {status}", file=sys.stderr)
        return False
    check = _request(f"{server}/api/2.0/mlflow/users/get?username={user}", user, password)
    if check != 200:
        print(f"mlflow_user: {user!r} cannot sign in to {server} (HTTP {check})", file=sys.stderr)
        return False
    print(f"mlflow_user: {user!r} ready on {server}")
    return True


def _names() -> tuple[list[str], list[str]]:
    """The deployment's experiments and registered models (its config), as the pipeline names them."""
    from pipeline.config import load_config
    from pipeline.ops.registry import tuned_name
    from pipeline.steps.tune import experiment

    cfg = load_config(os.environ.get("PIPELINE_CONFIG") or None)
    return ([cfg.experiment_name, experiment(cfg.experiment_name)],
            [cfg.registered_model_name, tuned_name(cfg.registered_model_name)])


def _manages(server: str, admin: tuple[str, str], user: str, kind: str, key: str) -> bool:
    """Whether ``user`` holds MANAGE on resource ``key`` of ``kind`` (experiment, registered_model)."""
    _, found = _call(f"{server}/api/3.0/mlflow/users/permissions/get?username={quote(user)}"
                     f"&resource_type={kind}&resource_id={quote(key)}", *admin)
    return found.get("permission") == "MANAGE"


def _owned(server: str, admin: tuple[str, str], user: str, password: str) -> bool:
    """Create the pipeline's names as ``user``; each must be one ``user`` manages."""
    experiments, models = _names()
    owned = []
    for name in experiments:
        _request(f"{server}/api/2.0/mlflow/experiments/create", user, password, {"name": name})
        _, found = _call(f"{server}/api/2.0/mlflow/experiments/get-by-name?experiment_name={quote(name)}", user,
                         password)
        key = found.get("experiment", {}).get("experiment_id", "")
        owned.append((f"experiment {name!r}", _manages(server, admin, user, "experiment", key)))
    for name in models:
        _request(f"{server}/api/2.0/mlflow/registered-models/create", user, password, {"name": name})
        owned.append((f"registered model {name!r}", _manages(server, admin, user, "registered_model", name)))
    for what, ok in owned:
        if not ok:
            print(f"mlflow_user: {what} was created by another account: {user!r} cannot own it (delete it, or name "
                  "another one in PIPELINE_CONFIG)", file=sys.stderr)
    if all(ok for _, ok in owned):
        print(f"mlflow_user: {user!r} alone writes {', '.join(experiments + models)}")
        return True
    return False


def main() -> int:
    server = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
    admin = os.environ["MLFLOW_AUTH_ADMIN_USERNAME"], os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"]
    user, password = os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"]
    ok = _account(server, admin, user, password)
    if os.environ.get("MLFLOW_SCORER_PASSWORD"):
        ok = _account(server, admin, "scorer", os.environ["MLFLOW_SCORER_PASSWORD"]) and ok
    return 0 if ok and _owned(server, admin, user, password) else 1


if __name__ == "__main__":
    sys.exit(main())
