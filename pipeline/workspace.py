"""Every file of a run's work folder, named in one place. Steps find what an earlier step wrote here, never by
a name of their own, and the folder itself is derived from the run key (:func:`pipeline.settings.work_dir`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline import settings

PART_SCORES = "_scores.parquet"  # how a part's holdout scores end (beside its forecast)


@dataclass(frozen=True)
class RunPaths:
    """The files of one run's work folder ``root``: what each step writes, and the next reads."""

    root: Path

    @classmethod
    def of(cls, run_key: str) -> RunPaths:
        """The work folder of ``run_key`` in the state folder."""
        return cls(settings.work_dir(run_key))

    # ingest, validate
    @property
    def settings(self) -> Path:
        """The configuration the run started with (kept by its first ingest; a retry reads it back)."""
        return self.root / "settings.json"

    @property
    def snapshot(self) -> Path:
        return self.root / "ingested.npz"

    @property
    def validation_report(self) -> Path:
        return self.root / "validation_report.json"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine.csv"

    @property
    def profile(self) -> Path:
        return self.root / "data_profile.json"

    @property
    def panel(self) -> Path:
        return self.root / "panel.npz"

    # monitor (beside the training)
    @property
    def monitor(self) -> Path:
        return self.root / "monitor.json"

    def monitor_part(self, key: str) -> Path:
        """A part's live scores and drift checks (monitor_part; its live scores beside, as Parquet)."""
        return self.root / "monitoring" / f"part_{key}.json"

    # plan, fit, backtest_summary
    @property
    def shards(self) -> Path:
        return self.root / "shards.json"

    def fit(self, shard: int, origin: str) -> Path:
        """The result of the fit of ``shard`` whose training ends before month ``origin`` (``YYYY-MM``)."""
        return self.root / "fits" / f"shard_{shard}_{origin}.json"

    def shard_model(self, shard: int) -> Path:
        """The folder of a shard's final forecaster."""
        return self.root / "model" / f"shard_{shard}"

    @property
    def backtest_summary(self) -> Path:
        return self.root / "backtest" / "summary.json"

    @property
    def per_series(self) -> Path:
        return self.root / "backtest" / "per_series.csv"

    # evaluate
    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def candidate(self) -> Path:
        """The logged candidate: its MLflow model URI."""
        return self.root / "candidate.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    def part_scores(self, key: str) -> Path:
        """A part's holdout scores per series (evaluate_part)."""
        return self.root / "evaluation" / f"part_{key}{PART_SCORES}"

    def part_forecast(self, key: str) -> Path:
        """A part's forecast of the coming months (evaluate_part)."""
        return self.root / "evaluation" / f"part_{key}_forecast.parquet"

    @property
    def candidate_forecast(self) -> Path:
        return self.root / "candidate_forecast.csv"

    @property
    def history(self) -> Path:
        """The final fits' loss curves, seconds and best epochs."""
        return self.root / "history.json"

    @property
    def model_summary(self) -> Path:
        return self.root / "model_summary.txt"

    def figure(self, name: str) -> Path:
        return self.root / f"{name}.png"

    # score_champion (its parts), register, publish, summarize
    def champion_part(self, key: str) -> Path:
        """The champion's holdout MASE on a part's series (score_champion_part)."""
        return self.root / "champion" / f"part_{key}_scores.parquet"

    def publish_part(self, key: str) -> Path:
        """The champion's forecast of a part's series, when it is not the candidate (publish_part)."""
        return self.root / "forecast" / f"part_{key}.parquet"

    def champion_part_result(self, key: str) -> Path:
        """What a part of score_champion found: the version scored, its scores' file, or why it could not."""
        return self.root / "champion" / f"part_{key}.json"

    @property
    def champion(self) -> Path:
        """The champion's scores on this run's data (or that there is none to beat)."""
        return self.root / "champion.json"

    @property
    def decision(self) -> Path:
        return self.root / "decision.json"

    @property
    def forecast(self) -> Path:
        return self.root / "forecast.csv"

    @property
    def summary_markdown(self) -> Path:
        return self.root / "summary.md"

    @property
    def summary_json(self) -> Path:
        return self.root / "summary.json"

    # a tuning run (the lstm_tuning DAG): its trials, then the configuration it chose
    @property
    def tuning_plan(self) -> Path:
        return self.root / "tuning" / "trials.json"

    def trial(self, number: int) -> Path:
        """The result of tuning trial ``number``."""
        return self.root / "tuning" / f"trial_{number}.json"

    @property
    def tuned(self) -> Path:
        return self.root / "tuning" / "config.json"

    @property
    def failure(self) -> Path:
        """The last failed step's error (for the run-level failure notice)."""
        return self.root / "failure.json"


def published_forecasts(experiment_name: str) -> Path:
    """Where the published forecast tables of an experiment are kept: ``<data month>.csv`` and ``latest.csv``."""
    return settings.state_dir() / "forecasts" / experiment_name


def forecast_reports(experiment_name: str) -> Path:
    """Where an experiment's forecast-versus-actual reports are kept: ``<data month>.csv`` and ``.md``."""
    return settings.state_dir() / "reports" / experiment_name
