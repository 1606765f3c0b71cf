"""The undisturbed LocalExecutor run of the small panel on its own services stack, shared by the tests that compare
a Celery run with it (``test_celery.py``, ``test_chaos.py``): started on first use, in the background, so that it
overlaps the first Celery stack's start-up; stopped once its results are collected."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest


@pytest.fixture(scope="session")
def local_reference(tmp_path_factory) -> Iterator[Future]:
    """A future of :func:`tests.integration.test_celery.run_on` on the LocalExecutor: ``.result()`` waits for it."""
    from tests.integration.test_celery import run_on

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run_on, tmp_path_factory.mktemp("reference"), "LocalExecutor")
