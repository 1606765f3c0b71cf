"""Analysts compare monthly runs in the MLflow UI: two pipeline runs on a real MLflow server, then the
experiment's compare view in headless Chromium shows both runs and their holdout MAPE."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from mlflow.tracking import MlflowClient

from pipeline import steps
from tests.browser import FLAGS, ensure_chromium, screenshot_path
from tests.conftest import TINY
from tests.pipeline.ops.test_faults import server  # noqa: F401 (fixture: a real MLflow server)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_compare_view_shows_both_runs_and_their_holdout_mape(server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    first = steps.run_all("ui/november", "1960-12-01", TINY)
    second = steps.run_all("ui/december", "1961-01-01", TINY)
    client = MlflowClient(server.uri)
    experiment = client.get_experiment_by_name("lstm-monthly-retraining").experiment_id
    ids = [first.mlflow_run_id, second.mlflow_run_id]
    url = (f"{server.uri}/#/compare-runs?runs={urllib.parse.quote(json.dumps(ids))}"
           f"&experiments={urllib.parse.quote(json.dumps([experiment]))}")
    # the compare table shows 4 significant digits
    expected = {run_id: f"{client.get_run(run_id).data.metrics['holdout_mape']:.4g}" for run_id in ids}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        # a slow React app: wait for the runs, then scroll the metrics table (a virtualized grid) to holdout_mape
        page.wait_for_function("() => document.body.innerText.includes('Comparing 2 Runs') && "
                               "document.body.innerText.includes('backtest_')", timeout=180_000)
        grid = page.locator(".ReactVirtualized__Grid").last
        grid.scroll_into_view_if_needed()
        box = grid.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(200):  # a metric a candidate and a score: well over a hundred rows
            if "holdout_mape" in page.inner_text("body"):
                break
            page.mouse.wheel(0, 120)
            page.wait_for_timeout(300)
        page.wait_for_timeout(1000)
        text = page.inner_text("body")
        path = screenshot_path("mlflow-compare-runs.png")
        page.screenshot(path=str(path))
        browser.close()
    assert "1960-11" in text and "1960-12" in text and "holdout_mape" in text
    for value in expected.values():
        assert value in text, f"holdout MAPE {value} not on the compare page"
    assert path.stat().st_size > 10_000
