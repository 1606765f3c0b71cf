"""Analysts compare monthly runs in the MLflow UI: two pipeline runs on a real MLflow server, then, in headless
Chromium, the experiment opens on its training runs, a month's run shows the charts compared across months (grouped
above the other metrics), and the compare view shows both runs and their holdout MAPE."""

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


def test_training_runs_their_charts_and_the_compare_view(server):  # noqa: F811
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
    assert client.get_experiment(experiment).tags["mlflow.experimentKind"] == "custom_model_development"
    links = json.loads(second.paths.summary_json.read_text())["mlflow_links"]
    assert links["run"].startswith(f"{server.uri}/#/experiments/{experiment}/runs/{second.mlflow_run_id}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1600, "height": 1400})
        # the links of the run summary: the months' training runs, both of them
        page.goto(links["runs"], wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_function("() => ['Run Name', '1960-11', '1960-12']"
                               ".every(t => document.body.innerText.includes(t))", timeout=180_000)
        assert "Token Usage" not in page.inner_text("body")
        page.screenshot(path=str(screenshot_path("mlflow-training-runs.png")))
        # this month's run: the figures compared across months first, a section each, then the other metrics
        page.goto(links["run"], wait_until="domcontentloaded", timeout=120_000)
        page.get_by_text("Model metrics", exact=True).first.click()
        page.wait_for_function("() => document.body.innerText.includes('series_share')", timeout=180_000)
        page.wait_for_timeout(1000)
        charts = page.inner_text("body")
        page.screenshot(path=str(screenshot_path("mlflow-run-charts.png")))
        assert "Evaluation runs" not in charts, "the run opened in the GenAI view"
        sections = [charts.find(f"{name}\n(") for name in ("backtest_mape", "backtest_mase", "interval_coverage",
                                                           "series_share", "Model metrics")]
        assert -1 not in sections and sections == sorted(sections), sections
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
