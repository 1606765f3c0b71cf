"""Monthly LSTM retraining pipeline: the logic behind the Airflow DAG, usable without Airflow."""

__version__ = "0.1.0"
