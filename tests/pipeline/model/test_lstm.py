import torch

from pipeline.model.lstm import LSTMRegressor, NetSpec, summarize


def test_forward_takes_batch_time_feature():
    net = LSTMRegressor(NetSpec(hidden_size=8, num_layers=2, dropout=0.2))
    assert net(torch.zeros(5, 12, 1)).shape == (5, 1)
    assert net.lstm.batch_first
    direct = LSTMRegressor(NetSpec(hidden_size=8, num_layers=1, dropout=0.0, output_steps=12))
    assert direct(torch.zeros(5, 24, 1)).shape == (5, 12)


def test_summary_lists_layers_and_counts_like_keras():
    net = LSTMRegressor(NetSpec(hidden_size=50, num_layers=4, dropout=0.2))
    text = summarize(net, lookback=60)
    assert text.count("(LSTM)") == 4 and text.count("(Dropout)") == 4 and "dense (Linear)" in text
    total = sum(p.numel() for p in net.parameters())
    assert f"Total params: {total:,}" in text
    # PyTorch keeps two bias vectors per gate: 4 * (50 * (1 + 50) + 2 * 50) for the first layer.
    assert "10,600" in text and "(None, 60, 50)" in text and "(None, 1)" in text
