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
