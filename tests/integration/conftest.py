"""The undisturbed LocalExecutor run of the small panel on its own services stack, for the tests that compare a
Celery run with it: started on first use, in the background, so that it runs beside the Celery stack; stopped once
its results are collected."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest


@pytest.fixture(scope="session")
def local_reference(tmp_path_factory) -> Iterator[Future]:
    """A future of :func:`tests.integration.stacks.run_on` on the LocalExecutor: ``.result()`` waits for it."""
    from tests.integration.stacks import run_on

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run_on, tmp_path_factory.mktemp("reference"), "LocalExecutor")
