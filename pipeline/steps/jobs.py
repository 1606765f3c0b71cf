"""What the plan hands the mapped tasks: typed jobs that cross Airflow's XCom as plain JSON (``to_json``, ``of``),
never data. The fits (:class:`FitJob`: shards at a training origin) and the parts (:class:`Part`: shards whose series
a task evaluates once the backtest has chosen each series' candidate)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.data.panel import Panel
from pipeline.errors import ChampionMovedError, ConfigError


@dataclass(frozen=True)
class FitJob:
    """One mapped fit task: the global network of each of ``shards`` (consecutive shard numbers) trained on the
    months up to ``train_end`` (the training origin ``origin``), the backtest ``folds`` that start there scored,
    and, when ``final``, each shard's model kept. One shard a task unless the panel's shards times origins would
    pass Airflow's ``max_map_length``."""

    shards: tuple[int, ...]
    origin: str  # the training origin's key (:class:`pipeline.scoring.backtest.Origin`)
    train_end: str  # YYYY-MM, the last training month
    folds: tuple[int, ...]
    final: bool

    @property
    def label(self) -> str:
        """How the task is named in Airflow's grid (its map index)."""
        return f"{_label(self.shards)}, to {self.train_end}"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for XCom (with the label the DAG's ``map_index_template`` reads)."""
        return {"shards": list(self.shards), "origin": self.origin, "train_end": self.train_end,
                "folds": list(self.folds), "final": self.final, "label": self.label}

    @classmethod
    def of(cls, value: FitJob | Mapping[str, Any]) -> FitJob:
        """A job from itself or from its JSON (as XCom gives it back)."""
        if isinstance(value, FitJob):
            return value
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names - {"label"})
        if unknown or not names <= set(value):
            raise ConfigError(f"not a fit job: unknown keys {unknown}, missing {sorted(names - set(value))}")
        return cls(shards=tuple(int(k) for k in value["shards"]), origin=str(value["origin"]),
                   train_end=str(value["train_end"]), folds=tuple(int(f) for f in value["folds"]),
                   final=bool(value["final"]))


def _label(shards: tuple[int, ...]) -> str:
    first, last = shards[0], shards[-1]
    return f"shard {first}" if first == last else f"shards {first}-{last}"


@dataclass(frozen=True)
class Part:
    """The series of consecutive ``shards``: what one mapped task of the steps after the fits evaluates and
    forecasts (the same groups as the fits')."""

    shards: tuple[int, ...]

    @property
    def key(self) -> str:
        """Names the part's files (its first shard)."""
        return f"{self.shards[0]:05d}"

    def positions(self, panel: Panel, shards: list[list[str]]) -> list[int]:
        """The positions in ``panel`` of the part's series (``shards``: the series of each shard, as plan wrote
        them to ``shards.json``), in the panel's order."""
        return sorted(panel.position(sid) for k in self.shards for sid in shards[k])

    def to_json(self) -> dict[str, Any]:
        """Plain JSON for XCom (with the label the DAG's ``map_index_template`` reads)."""
        return {"shards": list(self.shards), "label": _label(self.shards)}

    @classmethod
    def of(cls, value: Part | Mapping[str, Any]) -> Part:
        """A part from itself or from its JSON."""
        if isinstance(value, Part):
            return value
        if set(value) - {"shards", "label"} or "shards" not in value:
            raise ConfigError(f"not a part of the panel: keys {sorted(value)}")
        return cls(shards=tuple(int(k) for k in value["shards"]))


def shard_groups(shards: int, origins: int, max_tasks: int) -> list[range]:
    """The shards split into consecutive groups, as few shards a group as keep ``groups x origins`` within
    ``max_tasks`` (one shard each when they fit). Refuses more origins than ``max_tasks``."""
    if origins > max_tasks:
        raise ConfigError(f"{origins} training origins need at least {origins} mapped tasks, over max_mapped_tasks "
                          f"{max_tasks} (Airflow's max_map_length): fewer folds")
    per_group = -(-shards // (max_tasks // origins)) if shards else 1
    return [range(k, min(k + per_group, shards)) for k in range(0, shards, per_group)]


def one_champion(versions: Iterable[str | None], doing: str) -> str | None:
    """The champion version every part of a step saw (None: none saw a champion). Parts that saw two (the alias
    moved between them) fail the run: one decision or summary must not mix two champions."""
    seen = set(versions)
    if len(seen) > 1:
        labels = sorted("no champion" if v is None else f"v{v}" for v in seen)
        raise ChampionMovedError(f"the champion moved while it was {doing} (parts of {', '.join(labels)}): re-run "
                                 "the month, so that every part sees the same champion")
    return next(iter(seen), None)

