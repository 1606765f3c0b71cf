"""Operations: MLflow tracking and registry, monitoring, alerts, dashboard gauges and plots."""
