"""Warm starts: with ``warm_start``, every fit keeps its networks' weights and starts from the weights of the same
fit a month earlier, fine-tuning on the new month (cold, from seeded random weights, when there are none).

"The same fit a month earlier" is the fit of last month's run (data month one earlier) for the same shard, with
the same model settings, whose training ended one month before this fit's: those weights saw only months this fit
trains on (no leak into its backtest), and no fit of a run reads what another fit of the same run writes (the
result does not depend on the order the mapped tasks run in). Files: ``<state>/warm/<settings>/shard_<k>_of_<n>/
<train end>@<data month>.pt``, the months of the last year kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import settings
from pipeline.config import Config
from pipeline.io import write_bytes
from pipeline.months import month_text

logger = logging.getLogger(__name__)

KEPT_MONTHS = 12
Weights = list[dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Start:
    """Weights a fit starts from, one state dict per network (views x members), and the file they came from."""

    weights: Weights
    source: str
    sha256: str


def folder(cfg: Config, shard: int, shards: int) -> Path:
    """Where the fits of one shard keep their weights: one folder per model settings (a warm chain is reproducible:
    runs with other settings, cold ones included, never write into it)."""
    digest = hashlib.sha256(json.dumps(cfg.model_settings(), sort_keys=True).encode()).hexdigest()[:16]
    return settings.state_dir() / "warm" / digest / f"shard_{shard}_of_{shards}"


def _name(train_end: str, data_month: int) -> str:
    return f"{train_end}@{month_text(data_month)}.pt"


def save(where: Path, train_end: str, data_month: int, nets: Sequence[torch.nn.Module]) -> Path:
    """Keep a fit's weights for next month's run (atomically), under its last training month (``YYYY-MM``, or
    ``end-<months>`` with series_end folds) and its run's data month; drop the files of data months over a year
    old."""
    buffer = io.BytesIO()
    torch.save([net.state_dict() for net in nets], buffer)
    path = write_bytes(where / _name(train_end, data_month), buffer.getvalue())
    for old in where.glob("*@*.pt"):
        month = old.stem.split("@")[1]
        if month < month_text(data_month - KEPT_MONTHS):
            old.unlink(missing_ok=True)
    return path


def load(where: Path, train_end: str, data_month: int, networks: int) -> Start | None:
    """The weights :func:`save` kept for a fit (the same fit a month earlier: its last training month
    ``train_end``, its run's data month ``data_month``), or None (cold start) when there are none or they do not
    fit ``networks`` networks."""
    path = where / _name(train_end, data_month)
    if not path.exists():
        logger.info("warm start: no weights of last month's fit (%s): cold start", path.name)
        return None
    data = path.read_bytes()  # read once: hashed and loaded
    try:
        weights = torch.load(io.BytesIO(data), weights_only=True)
    except Exception as exc:  # a truncated or foreign file: train cold rather than fail the month
        logger.warning("warm start: %s is unreadable (%s: %s): cold start", path, type(exc).__name__, exc)
        return None
    if not isinstance(weights, list) or len(weights) != networks:
        logger.warning("warm start: %s holds %s networks, not %d: cold start", path,
                       len(weights) if isinstance(weights, list) else "no", networks)
        return None
    logger.info("warm start from %s", path)
    return Start(weights, str(path), hashlib.sha256(data).hexdigest())
