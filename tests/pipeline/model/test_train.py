import ctypes
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.data.features import ViewSpec, build_features
from pipeline.model.lstm import NetSpec
from pipeline.model.train import TrainSettings, eval_step, fit, train_step
from tests.conftest import panel_of, seasonal_series


def _data():
    data, _ = build_features(panel_of(seasonal_series(60)), ViewSpec(lookback=12, val_size=6))
    return data


def test_training_is_deterministic_for_a_seed():
    kwargs = {"epochs": 4, "batch_size": 8, "learning_rate": 0.01}
    net_a, hist_a = fit(_data(), NetSpec(8, 2, 0.1), TrainSettings(seed=7, **kwargs))
    net_b, hist_b = fit(_data(), NetSpec(8, 2, 0.1), TrainSettings(seed=7, **kwargs))
    _, hist_c = fit(_data(), NetSpec(8, 2, 0.1), TrainSettings(seed=8, **kwargs))
    assert hist_a.train_loss == hist_b.train_loss and hist_a.val_loss == hist_b.val_loss
    assert hist_a.train_loss != hist_c.train_loss
    for a, b in zip(net_a.state_dict().values(), net_b.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_torch_threads_come_from_the_environment(monkeypatch):
    from pipeline.errors import ConfigError

    kwargs = {"epochs": 3, "batch_size": 8, "learning_rate": 0.01, "seed": 1}
    _, one = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs))
    assert torch.get_num_threads() == 1  # the default: parallel tasks must not fight over the cores
    monkeypatch.setenv("PIPELINE_TORCH_THREADS", "2")
    _, two = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs))
    assert torch.get_num_threads() == 2 and two.train_loss == one.train_loss
    monkeypatch.setenv("PIPELINE_TORCH_THREADS", "zero")
    with pytest.raises(ConfigError, match="PIPELINE_TORCH_THREADS"):
        fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs))
    monkeypatch.delenv("PIPELINE_TORCH_THREADS")
    fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**{**kwargs, "epochs": 1}))  # back to the default for the rest
    assert torch.get_num_threads() == 1


def _small_config(**overrides):
    from pipeline.config import load_config

    return load_config(overrides={"lookback": 12, "val_size": 4, "output_steps": 3, "hidden_size": 8, "epochs": 3,
                                  "ensemble_size": 3, "patience": 0, **overrides})


def _weights(forecaster) -> list[torch.Tensor]:
    return [w for net in forecaster.nets for w in net.state_dict().values()]


def test_ensembles_train_on_threads_with_the_results_of_one_thread(monkeypatch, caplog):
    from pipeline.model.train import fit_forecaster

    panel = panel_of(seasonal_series(60))
    monkeypatch.setenv("PIPELINE_TRAIN_THREADS", "1")
    one, one_hist = fit_forecaster(panel, _small_config())
    monkeypatch.setenv("PIPELINE_TRAIN_THREADS", "3")
    with caplog.at_level("INFO", logger="pipeline.model.train"):
        three, three_hist = fit_forecaster(panel, _small_config())
    assert "training 6 network(s) (2 view(s) x 3 seed(s)) on 3 thread(s)" in caplog.text
    assert [h.train_loss for h in one_hist] == [h.train_loss for h in three_hist]
    assert all(torch.equal(a, b) for a, b in zip(_weights(one), _weights(three), strict=True))
    caplog.clear()
    with caplog.at_level("INFO", logger="pipeline.model.train"):  # dropout draws from torch's global generator
        dropped, _ = fit_forecaster(panel, _small_config(num_layers=2, dropout=0.2))
        again, _ = fit_forecaster(panel, _small_config(num_layers=2, dropout=0.2))
    assert "on 1 thread(s)" in caplog.text and "on 3 thread(s)" not in caplog.text
    assert all(torch.equal(a, b) for a, b in zip(_weights(dropped), _weights(again), strict=True))
    monkeypatch.setenv("PIPELINE_TRAIN_THREADS", "-1")
    from pipeline.errors import ConfigError

    with pytest.raises(ConfigError, match="PIPELINE_TRAIN_THREADS must be a positive integer, got '-1'"):
        fit_forecaster(panel, _small_config())


def _kernel_threads() -> tuple[int, int]:
    """The threads OpenMP and MKL give the next kernel in the calling thread, asked of the libraries torch runs on
    (asking torch would set them first)."""
    lib = Path(torch.__file__).parent / "lib"
    omp, mkl = ctypes.CDLL(str(next(lib.glob("libgomp*.so*")))), ctypes.CDLL(str(lib / "libtorch_cpu.so"))
    return omp.omp_get_max_threads(), mkl.mkl_get_max_threads()


@pytest.mark.parametrize("torch_threads", ["", "3"])
def test_networks_trained_side_by_side_run_their_kernels_on_the_set_threads(monkeypatch, torch_threads):
    from pipeline.model import train as train_module

    seen = []

    def spied(*args, **kwargs):  # the real training, once the thread's counts are noted
        seen.append((threading.current_thread().name.startswith("train"), _kernel_threads()))
        return real(*args, **kwargs)

    real = train_module.train
    monkeypatch.setattr(train_module, "train", spied)
    monkeypatch.setenv("PIPELINE_TRAIN_THREADS", "2")
    monkeypatch.setenv("PIPELINE_TORCH_THREADS", torch_threads)
    train_module.fit_forecaster(panel_of(seasonal_series(60)), _small_config(ensemble_size=1, epochs=1))
    expected = int(torch_threads or 1)
    assert seen == [(True, (expected, expected))] * 2
    monkeypatch.delenv("PIPELINE_TORCH_THREADS")
    train_module.use_torch_threads()  # the default again for the tests after


def test_bf16_training_is_deterministic_and_close_to_fp32():
    from pipeline.errors import ConfigError
    from pipeline.model.train import bf16_supported, fit_forecaster

    panel = panel_of(seasonal_series(60))
    with pytest.raises(ConfigError, match="'precision' must be one of fp32, bf16, got 'fp16'"):
        _small_config(precision="fp16")
    if not bf16_supported():  # this CPU has no bfloat16 LSTM: the fit says so before it trains anything
        with pytest.raises(ConfigError, match=r"this CPU cannot run an LSTM in bfloat16.*use precision fp32"):
            fit_forecaster(panel, _small_config(epochs=20, precision="bf16"))
        return
    fp32, fp32_hist = fit_forecaster(panel, _small_config(epochs=20))
    bf16, bf16_hist = fit_forecaster(panel, _small_config(epochs=20, precision="bf16"))
    again, _ = fit_forecaster(panel, _small_config(epochs=20, precision="bf16"))
    assert all(torch.equal(a, b) for a, b in zip(_weights(bf16), _weights(again), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(_weights(fp32), _weights(bf16), strict=True))
    assert all(w.dtype == torch.float32 for w in _weights(bf16))  # the weights stay float32
    windows = np.stack([seasonal_series(60).to_numpy()[i:i + 18] for i in range(5)])
    assert np.allclose(bf16.predict(windows), fp32.predict(windows), rtol=0.05)
    assert bf16_hist[0].train_loss[-1] == pytest.approx(fp32_hist[0].train_loss[-1], rel=0.2)


def test_early_stopping_keeps_the_best_epoch():
    _, history = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(200, 8, 0.05, seed=0, patience=5))
    assert len(history.train_loss) < 200
    assert history.val_loss[history.best_epoch - 1] == min(history.val_loss)
    assert len(history.train_loss) - history.best_epoch == 5


def test_ensemble_members_differ_and_curves_average():
    from pipeline.config import load_config
    from pipeline.model.train import fit_forecaster, mean_curves

    cfg = _small_config()
    series = seasonal_series(60)
    forecaster, histories = fit_forecaster(panel_of(series), cfg)
    # two views (12 months relative, 6 year-over-year changes) of 3 seeds each
    assert len(forecaster.nets) == len(histories) == 6 and forecaster.output_steps == 3
    assert [(s.season, s.time_steps, len(nets)) for s, nets in forecaster.groups] == [(0, 12, 3), (12, 6, 3)]
    assert forecaster.lookback == cfg.input_months == 18
    assert histories[0].train_loss != histories[1].train_loss
    windows = np.stack([series.to_numpy()[i:i + 18] for i in range(5)])
    assert forecaster.predict(windows).shape == (5, 3)
    single, _ = fit_forecaster(panel_of(series), load_config(overrides={**cfg.to_dict(), "seasonal_lookback": 0}))
    assert len(single.nets) == 3 and single.lookback == 12
    seasonal, _ = fit_forecaster(panel_of(series), load_config(overrides={**cfg.to_dict(), "lookback": 0}))
    assert [s.season for s, _ in seasonal.groups] == [12] and seasonal.lookback == 18
    curves = mean_curves(histories)
    assert curves["train_loss"][0] == pytest.approx(np.mean([h.train_loss[0] for h in histories]))


def test_loss_goes_down_and_is_recorded_per_epoch():
    epochs = []
    _, history = fit(_data(), NetSpec(16, 1, 0.0), TrainSettings(30, 8, 0.01, seed=0),
                     on_epoch=lambda e, t, v: epochs.append(e))
    assert epochs == list(range(1, 31)) and len(history.train_loss) == len(history.val_loss) == 30
    assert history.train_loss[-1] < history.train_loss[0] / 2


class _Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1)

    def forward(self, x):
        return self.fc(x).squeeze(-1)


def test_train_step_clears_gradients_between_batches():
    torch.manual_seed(0)
    model = _Linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay put: equal batches give equal gradients
    x, y = torch.ones(4, 3), torch.zeros(4)
    train_step(model, x, y, opt, torch.nn.MSELoss())
    first = model.fc.weight.grad.clone()
    train_step(model, x, y, opt, torch.nn.MSELoss())
    assert torch.equal(model.fc.weight.grad, first), "gradients must not accumulate across steps"


def test_eval_step_uses_inference_mode_and_eval():
    model = torch.nn.Sequential(torch.nn.Dropout(0.9), torch.nn.Flatten(0))
    x = torch.ones(64, 1)
    losses = {eval_step(model, x, torch.ones(64), torch.nn.MSELoss()) for _ in range(3)}
    assert losses == {0.0} and not model.training
    assert np.isfinite(next(iter(losses)))


def test_no_validation_windows_trains_every_epoch():
    data, _ = build_features(panel_of(seasonal_series(60)), ViewSpec(lookback=12, val_size=0, steps=3))
    _, history = fit(data, NetSpec(8, 1, 0.0, output_steps=3), TrainSettings(4, 8, 0.01, seed=1, patience=2))
    assert len(history.train_loss) == 4 and history.val_loss == [] and history.best_epoch == 4


def test_a_diverging_training_stops_with_a_clear_error():
    from dataclasses import replace

    from pipeline.errors import TrainingDivergedError

    data = _data()
    broken = replace(data, y_train=np.full_like(data.y_train, np.inf))
    with pytest.raises(TrainingDivergedError, match="training diverged at epoch 1: the loss is"):
        fit(broken, NetSpec(8, 1, 0.0), TrainSettings(3, 8, 0.01, seed=1))


def test_mae_loss_and_a_cosine_schedule_are_deterministic_and_different():
    kwargs = {"epochs": 3, "batch_size": 8, "learning_rate": 0.01, "seed": 3}
    _, mse = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs))
    _, mae = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs, loss="mae"))
    _, again = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs, loss="mae"))
    _, cosine = fit(_data(), NetSpec(8, 1, 0.0), TrainSettings(**kwargs, loss="mae", lr_schedule="cosine"))
    assert mae.train_loss == again.train_loss and mae.train_loss != mse.train_loss
    assert cosine.train_loss[0] != mae.train_loss[0] and len(cosine.train_loss) == 3


def test_ensemble_members_cycle_over_the_losses():
    from pipeline.config import load_config

    cfg = load_config(overrides={"loss": "mse, mae", "ensemble_size": 3})
    assert [TrainSettings.of(cfg, 1, member=k).loss for k in range(3)] == ["mse", "mae", "mse"]
