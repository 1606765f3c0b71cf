import pytest
import torch

from pipeline.model.lstm import LSTMRegressor, NetSpec
from pipeline.model.optim import Adam


def _train(make_optimizer, steps: int = 30) -> LSTMRegressor:
    torch.manual_seed(0)
    model = LSTMRegressor(NetSpec(16, 2, 0.0, output_steps=3))
    optimizer = make_optimizer(model.parameters())
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 12, 1, generator=gen), torch.randn(8, 3, generator=gen)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.mean((model(x) - y) ** 2).backward()
        optimizer.step()
    return model


def test_adam_matches_torch_adam_to_the_bit():
    ours = _train(lambda p: Adam(p, lr=0.01))
    theirs = _train(lambda p: torch.optim.Adam(p, lr=0.01))
    moved = _train(lambda p: Adam(p, lr=0.01), steps=0)
    for a, b, c in zip(ours.state_dict().values(), theirs.state_dict().values(), moved.state_dict().values(),
                       strict=True):
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_adam_without_gradients_says_so():
    model = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="backward"):
        Adam(model.parameters(), lr=0.1).step()


def test_the_switch_falls_back_to_torch_adam_with_the_same_numbers(monkeypatch):
    from pipeline.errors import ConfigError
    from pipeline.model import optim

    params = list(torch.nn.Linear(2, 1).parameters())
    monkeypatch.delenv("PIPELINE_OPTIMIZER", raising=False)
    assert type(optim.make_adam(params, 0.1)) is Adam
    monkeypatch.setenv("PIPELINE_OPTIMIZER", "torch")
    assert type(optim.make_adam(params, 0.1)) is torch.optim.Adam
    builtin = _train(lambda p: Adam(p, lr=0.01))
    switched = _train(lambda p: optim.make_adam(p, 0.01))
    assert all(torch.equal(a, b) for a, b in zip(builtin.state_dict().values(), switched.state_dict().values(),
                                                 strict=True))
    monkeypatch.setenv("PIPELINE_OPTIMIZER", "sgd")
    with pytest.raises(ConfigError, match="PIPELINE_OPTIMIZER must be one of builtin, torch, got 'sgd'"):
        optim.make_adam(params, 0.1)
    monkeypatch.setenv("PIPELINE_OPTIMIZER", "builtin")
    monkeypatch.delattr(torch, "_foreach_lerp_")  # a torch without one of the private operations
    assert type(optim.make_adam(params, 0.1)) is torch.optim.Adam
