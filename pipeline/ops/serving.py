"""The champion's REST scoring server: MLflow's own scoring app (``/ping``, ``/health``, ``/version``,
``/invocations``) over a local copy of the version whose signature was verified, behind a bearer token.

``python -m pipeline serve`` verifies and copies the version, then runs uvicorn on :func:`create_app` (one app per
worker process). Every path but the health checks (``/ping``, ``/health``: they tell only that the server is up)
needs ``Authorization: Bearer <token>``: ``PIPELINE_SERVE_TOKEN`` (or the file ``PIPELINE_SERVE_TOKEN_FILE``), else
``<state dir>/keys/serve-token``, made on first use.
"""

from __future__ import annotations

import hmac
import logging
import os
from typing import TYPE_CHECKING, Any

from pipeline.ops import keys

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

TOKEN_ENV = "PIPELINE_SERVE_TOKEN"
MODEL_ENV = "PIPELINE_SERVE_MODEL"  # the verified local copy the workers load
OPEN_PATHS = frozenset({"/ping", "/health"})


def token() -> str:
    """The token a client must send (module docstring)."""
    return keys.secret(TOKEN_ENV, "serve-token")


def create_app() -> FastAPI:
    """MLflow's scoring app over the model in ``$PIPELINE_SERVE_MODEL``, refusing requests without the token."""
    from fastapi import Request
    from fastapi.responses import JSONResponse
    from mlflow.pyfunc import scoring_server

    expected = f"Bearer {token()}".encode()
    app = scoring_server.init(scoring_server.load_model_with_mlflow_config(os.environ[MODEL_ENV]))

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Any:
        if request.url.path in OPEN_PATHS or hmac.compare_digest(
                request.headers.get("authorization", "").encode(), expected):
            return await call_next(request)
        return JSONResponse({"error_code": "UNAUTHENTICATED",
                             "message": "this scoring server needs 'Authorization: Bearer <token>' "
                                        f"(the deployment's {TOKEN_ENV})"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    return app
