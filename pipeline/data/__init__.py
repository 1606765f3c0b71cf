"""Data: reading the CSV (ingest), validating it, and turning series into scaled windows (features)."""
