"""The LSTM network over (batch, time, feature) windows and its Keras-style summary."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetSpec:
    """The network's shape: enough to rebuild it before loading its weights."""

    hidden_size: int
    num_layers: int
    dropout: float
    input_size: int = 1
    output_steps: int = 1


class LSTMRegressor(nn.Module):
    """Stacked LSTM over (batch, time, feature) inputs; the last time step feeds a dense output of
    ``output_steps`` months (1: the next month, forecast recursively; more: a direct multi-month forecast).

    With ``num_layers`` > 1, dropout is applied between LSTM layers and before the dense layer,
    like the article's Keras model (LSTM, Dropout, ..., LSTM, Dropout, Dense).
    """

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        self.lstm = nn.LSTM(input_size=spec.input_size, hidden_size=spec.hidden_size, num_layers=spec.num_layers,
                            batch_first=True, dropout=spec.dropout if spec.num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.hidden_size, spec.output_steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (batch, time, 1) windows to (batch, output_steps) next values."""
        out, _ = self.lstm(x)
        return self.head(self.dropout(out[:, -1, :]))


def summarize(model: LSTMRegressor, lookback: int) -> str:
    """A layer table with output shapes and parameter counts, like Keras' ``summary()``."""
    spec = model.spec
    rows = []
    for layer in range(spec.num_layers):
        params = sum(p.numel() for name, p in model.lstm.named_parameters() if name.endswith(f"_l{layer}"))
        rows.append((f"lstm_{layer} (LSTM)", f"(None, {lookback}, {spec.hidden_size})", params))
        if spec.dropout and layer < spec.num_layers - 1:
            rows.append((f"dropout_{layer} (Dropout)", f"(None, {lookback}, {spec.hidden_size})", 0))
    rows[-1] = (rows[-1][0], f"(None, {spec.hidden_size})", rows[-1][2])
    if spec.dropout:
        rows.append((f"dropout_{spec.num_layers - 1} (Dropout)", f"(None, {spec.hidden_size})", 0))
    rows.append(("dense (Linear)", f"(None, {spec.output_steps})", sum(p.numel() for p in model.head.parameters())))
    total = sum(p.numel() for p in model.parameters())
    width = (32, 24, 12)
    line = "-" * sum(width)
    out = [f"Model: LSTMRegressor (input (None, {lookback}, {spec.input_size}))", line,
           f"{'Layer (type)':<{width[0]}}{'Output Shape':<{width[1]}}{'Param #':>{width[2]}}", "=" * sum(width)]
    out += [f"{name:<{width[0]}}{shape:<{width[1]}}{params:>{width[2]},}" for name, shape, params in rows]
    out += ["=" * sum(width), f"Total params: {total:,}", f"Trainable params: {total:,}", "Non-trainable params: 0"]
    return "\n".join(out) + "\n"
