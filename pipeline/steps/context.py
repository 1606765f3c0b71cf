"""The run context: what every step of one monthly run knows, fixed once ``ingest`` has resolved it. It crosses
Airflow's XCom as plain JSON (:meth:`RunContext.to_json`); files of the run are named by :attr:`RunContext.paths`,
never carried in the context."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.workspace import RunPaths


@dataclass(frozen=True)
class RunContext:
    """One run: its key, work folder, resolved configuration, MLflow run and the data it read."""

    run_key: str
    work_dir: str
    config: dict[str, Any]  # the resolved Config, as JSON
    mlflow_run_id: str
    data_month: str  # YYYY-MM, the last month of the as-of data
    source: str  # the CSV read
    data_sha256: str  # digest of the as-of rows
    dag_id: str = ""  # the Airflow DAG that runs it ("" outside Airflow)
    tuned: str = ""  # with tuned_config: latest, which tuned configuration the model settings come from

    @cached_property
    def cfg(self) -> Config:
        """The run's configuration."""
        return Config(**self.config)

    @property
    def paths(self) -> RunPaths:
        """The files of the run's work folder."""
        return RunPaths(Path(self.work_dir))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for XCom."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def of(cls, value: RunContext | Mapping[str, Any]) -> RunContext:
        """A context from itself or from its JSON (as XCom gives it back)."""
        if isinstance(value, RunContext):
            return value
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ConfigError(f"not a run context: unknown keys {unknown}")
        return cls(**value)
