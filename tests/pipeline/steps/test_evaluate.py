"""A whole run through the steps on a real local MLflow store, with real (tiny) training: what it logs."""

import json

import pytest

from pipeline import steps
from pipeline.ops.registry import CHALLENGER, CHAMPION
from tests.conftest import TINY, tracking_client

pytestmark = pytest.mark.slow
NAME = "air_passengers_lstm"


def test_run_logs_everything_and_registers_a_champion(state, synthetic_csv):
    ctx = steps.run_all("unit/run-1", "2006-01-01", {**TINY, "csv_path": str(synthetic_csv)})
    client = tracking_client()
    run = client.get_run(ctx.mlflow_run_id)
    assert run.info.run_name == "2005-12" == ctx.data_month
    assert run.data.params["epochs"] == "3" and run.data.params["preset"] == "lstm-direct"
    assert run.data.params["data.holdout_first"] == "2005-07"
    assert run.data.tags["data_sha256"] == ctx.ctx.data_sha256 and run.data.tags["decision"] == "promoted"
    holdout = json.loads(ctx.paths.metrics.read_text())
    for key in ("holdout_mape", "holdout_rmse", "holdout_mae", "holdout_mase", "baseline_mape", "baseline_mase"):
        assert run.data.metrics[key] == pytest.approx(holdout[key]) and 0 < holdout[key] < 1e4, key
    summary = json.loads(ctx.paths.backtest_summary.read_text())
    assert run.data.metrics["backtest_mape"] == pytest.approx(summary["mean"]["lstm"]["mape"])
    assert run.data.metrics["backtest_mase_median"] == pytest.approx(summary["median_mase"]["lstm"])
    assert run.data.metrics["backtest_seasonal_naive_mase"] == pytest.approx(summary["mean"]["seasonal_naive"]["mase"])
    assert run.data.metrics["share_beats_seasonal_naive"] == summary["share_beats_seasonal_naive"]
    assert (run.data.metrics["series_in"], run.data.metrics["series_quarantined"]) == (1, 0)
    assert run.data.metrics["series_fallback"] == sum(n for m, n in summary["served"].items() if m != "lstm")
    assert sum(run.data.metrics[f"series_{m}"] for m in summary["served"]) == 1
    folds = client.search_runs([run.info.experiment_id], f"tags.`mlflow.parentRunId` = '{run.info.run_id}'")
    assert sorted(f.data.params["train_end"] for f in folds) == ["2004-12", "2005-06"]
    assert all("backtest_mase" in f.data.metrics and "backtest_seasonal_naive_mase" in f.data.metrics
               for f in folds)
    mean = sum(f.data.metrics["backtest_mase"] for f in folds) / 2
    assert run.data.metrics["backtest_mase"] == pytest.approx(mean)
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")] == [1, 2, 3]
    assert len(client.get_metric_history(run.info.run_id, "val_loss")) == 3
    for view in ("relative", "yoy"):  # each view's curves beside the ensemble's mean
        assert len(client.get_metric_history(run.info.run_id, f"val_loss_{view}")) == 3
    artifacts = {f.path for folder in ("", "validation", "evaluation", "plots", "backtest", "forecast")
                 for f in client.list_artifacts(run.info.run_id, folder or None)}
    assert {"model_summary.txt", "decision.json", "validation/validation_report.json",
            "validation/data_profile.json", "evaluation/candidate_forecast.csv", "plots/loss_curves.png",
            "plots/holdout_forecast.png", "plots/future_forecast.png", "backtest/per_series.csv",
            "backtest/per_series_metrics.json", "forecast/forecast.csv"} <= artifacts
    assert run.inputs.dataset_inputs and run.inputs.dataset_inputs[0].dataset.digest == ctx.ctx.data_sha256[:16]
    champion = client.get_model_version_by_alias(NAME, CHAMPION)
    assert str(champion.version) == ctx.model_version == "1" and champion.run_id == run.info.run_id
    assert str(client.get_model_version_by_alias(NAME, CHALLENGER).version) == "1"
    assert champion.tags["decision.promoted"] == "True"


def test_a_panel_run_without_the_statsforecast_candidates_never_fits_their_models(state, tmp_path, monkeypatch):
    """``statsforecast_candidates`` off (a panel too large for them): no step fits a statsforecast model, and every
    series is chosen among, and published by, the four candidates that need none."""
    import pandas as pd

    from pipeline.model import candidates
    from tests.conftest import seasonal_series

    def refused(*args, **kwargs):
        raise AssertionError("a statsforecast model was fitted")

    monkeypatch.setattr(candidates, "statsforecast_models", refused)
    rows = [pd.DataFrame({"series": f"s{i}", "Month": s.index.strftime("%Y-%m"), "#Passengers": s.to_numpy()})
            for i, s in enumerate(seasonal_series(72, level=100.0 * (i + 1), seed=i) for i in range(5))]
    csv = tmp_path / "panel.csv"
    pd.concat(rows).to_csv(csv, index=False)
    ctx = steps.run_all("unit/fast", "2006-01-01", {**TINY, "csv_path": str(csv), "series_column": "series",
                                                    "shard_size": 2, "statsforecast_candidates": False})
    assert ctx.promoted
    summary = json.loads(ctx.paths.backtest_summary.read_text())
    assert set(summary["calibration"]) == set(candidates.CANDIDATES[:4])
    published = pd.read_csv(ctx.paths.forecast)
    assert len(published) == 5 * 6 and set(published["model"]) <= set(candidates.CANDIDATES[:4])
