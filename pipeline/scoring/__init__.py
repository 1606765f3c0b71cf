"""Scoring: forecasts, error metrics, baselines and rolling-origin backtests."""
