"""Step 4b: the seeded, explicit training loop (train_step / eval_step) with per-epoch losses."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pipeline.features import FeatureSet
from pipeline.model import LSTMRegressor, NetSpec

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, float, float | None], None]


@dataclass
class History:
    """Per-epoch mean training loss and validation loss (MSE, scaled units)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)


def train_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor,
               optimizer: torch.optim.Optimizer, loss_fn: nn.Module) -> float:
    """One optimisation step on one batch; returns the batch loss."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(xb), yb)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def eval_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> float:
    """Loss on ``x``/``y`` with dropout off and no autograd."""
    model.eval()
    with torch.inference_mode():
        return float(loss_fn(model(x), y))


def fit(data: FeatureSet, spec: NetSpec, *, epochs: int, batch_size: int, learning_rate: float, seed: int,
        on_epoch: EpochCallback | None = None, log_every: int = 10) -> tuple[LSTMRegressor, History]:
    """Train a fresh network on ``data``; deterministic for the same data, settings and seed on CPU."""
    seed_everything(seed)
    model = LSTMRegressor(spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.MSELoss()
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    x_val, y_val = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val)
    order = torch.Generator().manual_seed(seed)
    history = History()
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        permutation = torch.randperm(len(x_train), generator=order)
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            idx = permutation[start:start + batch_size]
            total += train_step(model, x_train[idx], y_train[idx], optimizer, loss_fn) * len(idx)
        history.train_loss.append(total / len(x_train))
        val = eval_step(model, x_val, y_val, loss_fn) if len(x_val) else None
        if val is not None:
            history.val_loss.append(val)
        if on_epoch is not None:
            on_epoch(epoch, history.train_loss[-1], val)
        if epoch == 1 or epoch % log_every == 0 or epoch == epochs:
            logger.info("epoch %d/%d train_loss=%.5f val_loss=%s (%.1fs)", epoch, epochs, history.train_loss[-1],
                        f"{val:.5f}" if val is not None else "n/a", time.perf_counter() - started)
    history.seconds = time.perf_counter() - started
    return model.eval(), history
