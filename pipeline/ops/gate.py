"""The promotion gate: a candidate's and the champion's scores on the same data, and the decision with its reason."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Scores:
    """A model's scores on this run's data: mean MASE over every series and backtest fold, and mean MASE over
    every series on the holdout months."""

    backtest_mase: float
    holdout_mase: float

    def finite(self) -> bool:
        """True when both scores are real numbers."""
        return math.isfinite(self.backtest_mase) and math.isfinite(self.holdout_mase)


@dataclass(frozen=True)
class Decision:
    """The promotion decision for one candidate version, with the scores it was based on."""

    model_name: str
    candidate_version: str
    candidate: Scores
    baseline_backtest_mase: float
    champion_version: str | None
    champion: Scores | None
    promoted: bool
    reason: str
    decided_at: str
    coverage: dict[str, float | None] | None = None

    def as_tags(self) -> dict[str, str]:
        """Flat string tags for the model version (the audit trail shown in the MLflow UI)."""
        flat = {"candidate_version": self.candidate_version, "champion_version": self.champion_version,
                "baseline_backtest_mase": self.baseline_backtest_mase, "promoted": self.promoted,
                "reason": self.reason, "decided_at": self.decided_at}
        flat |= {f"candidate_backtest_{key}": value for key, value in (self.coverage or {}).items()}
        for who, scores in (("candidate", self.candidate), ("champion", self.champion)):
            for key, value in (asdict(scores) if scores else {"backtest_mase": None, "holdout_mase": None}).items():
                flat[f"{who}_{key}"] = value
        return {f"decision.{k}": str(v) for k, v in flat.items()}


def decide(candidate: Scores, baseline_backtest: float, champion: Scores | None, baseline_gate: bool,
           drift: bool = False, coverage: tuple[int, float | None, float] | None = None) -> tuple[bool, str]:
    """The promotion gate, on mean MASE over all series.

    A candidate must have finite scores, intervals whose backtest coverage is within the tolerance of their
    level (``coverage``: level in percent, the measured coverage or None when not measured, the tolerance) and (if
    gated) a lower backtest mean MASE than seasonal naive. It then replaces the champion when its backtest mean
    MASE on the same folds is lower; on equal backtests (the same configuration retrained on newer data) it must
    also do better on the same holdout months, except under data ``drift``, when only a better backtest promotes.
    """
    c, ch = candidate, champion
    if not c.finite():
        return False, f"candidate scores are not finite ({c})"
    if coverage is not None and coverage[1] is not None and abs(coverage[1] - coverage[0] / 100) > coverage[2]:
        level, measured, tolerance = coverage
        return False, (f"candidate's {level} % intervals covered {measured:.1%} of the backtest months, more than "
                       f"{tolerance:.0%} from {level} %: they are miscalibrated")
    if baseline_gate and not c.backtest_mase < baseline_backtest:
        return False, (f"candidate backtest MASE {c.backtest_mase:.4f} does not beat seasonal naive "
                       f"{baseline_backtest:.4f}")
    if ch is None:
        return True, f"no champion yet; candidate backtest MASE {c.backtest_mase:.4f}"
    if c.backtest_mase < ch.backtest_mase:
        return True, (f"candidate backtest MASE {c.backtest_mase:.4f} beats champion {ch.backtest_mase:.4f} "
                      "on the same folds")
    if c.backtest_mase > ch.backtest_mase:
        return False, (f"candidate backtest MASE {c.backtest_mase:.4f} is not better than champion "
                       f"{ch.backtest_mase:.4f} on the same folds")
    if drift:
        return False, (f"data drift: promotion needs a better backtest than the champion's "
                       f"{ch.backtest_mase:.4f}, got the same")
    if c.holdout_mase < ch.holdout_mase:
        return True, (f"same backtest MASE {c.backtest_mase:.4f}; candidate holdout MASE {c.holdout_mase:.4f} beats "
                      f"champion {ch.holdout_mase:.4f}")
    return False, (f"same backtest MASE {c.backtest_mase:.4f}; candidate holdout MASE {c.holdout_mase:.4f} is not "
                   f"better than champion {ch.holdout_mase:.4f}")
