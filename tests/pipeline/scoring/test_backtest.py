import pytest

from pipeline.config import load_config
from pipeline.scoring.backtest import LSTM, NAIVE, backtest, fold_split, run_fold, summarize
from tests.conftest import DATA, TINY, seasonal_series


def test_fold_origins_match_the_issue_for_air_passengers():
    import pandas as pd

    frame = pd.read_csv(DATA)
    series = pd.Series(frame["#Passengers"].to_numpy(float), index=pd.to_datetime(frame["Month"]))
    ends = [f"{fold_split(series, k, 3, 12)[0].index[-1]:%Y-%m}" for k in range(3)]
    tests = [len(fold_split(series, k, 3, 12)[1]) for k in range(3)]
    assert ends == ["1957-12", "1958-12", "1959-12"] and tests == [12, 12, 12]
    with pytest.raises(ValueError):
        fold_split(series, 3, 3, 12)


@pytest.mark.slow
def test_backtest_scores_the_lstm_and_the_baseline_on_each_fold():
    series = seasonal_series(72)
    cfg = load_config(overrides=TINY)
    result = run_fold(series, cfg, 1)
    assert (result["train_end"], result["test_start"], result["test_end"]) == ("2005-06", "2005-07", "2005-12")
    assert set(result["scores"]) == {LSTM, NAIVE} and len(result["forecasts"][LSTM]) == 6
    assert run_fold(series, cfg, 1)["scores"] == result["scores"], "deterministic for a seed"
    summary = summarize([run_fold(series, cfg, 0), result])
    assert summary["folds"] == 2 and set(summary["mean"][LSTM]) == {"mape", "rmse", "mae", "mase"}
    assert summary["mean"][NAIVE]["mape"] == pytest.approx(
        (summary["per_fold"][0][NAIVE]["mape"] + summary["per_fold"][1][NAIVE]["mape"]) / 2)


@pytest.mark.slow
def test_statistical_baselines_are_scored_beside_the_lstm():
    pytest.importorskip("statsforecast")
    summary = backtest(seasonal_series(72), load_config(overrides=TINY), stats_baselines=True)
    assert {"AutoARIMA", "AutoETS", "AutoTheta"} <= set(summary["mean"])
    assert all(0 < summary["mean"][m]["mape"] < 50 for m in summary["mean"])


@pytest.mark.slow
def test_default_configuration_beats_seasonal_naive_on_a_trending_seasonal_series():
    series = seasonal_series(120, trend=3.0, noise=0.01, seed=3)
    summary = backtest(series, load_config(overrides={"ensemble_size": 1}))
    assert summary["mean"][LSTM]["mape"] < summary["mean"][NAIVE]["mape"]
