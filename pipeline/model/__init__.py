"""Model: the LSTM network and the forecaster that wraps networks and scaling; the training loop."""
