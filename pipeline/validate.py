"""Step 2: check the ingested rows and turn them into a clean monthly series, or fail naming file, row and column."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.errors import DataValidationError

logger = logging.getLogger(__name__)

NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
MAX_LISTED = 20


@dataclass
class Findings:
    """What validation found: errors stop the run, warnings and fixes are reported."""

    file: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def error(self, message: str, row: int | None = None, column: str | None = None) -> None:
        """Record an error at ``row``/``column`` of the source file."""
        self.errors.append({"row": row, "column": column, "message": message})

    def raise_if_failed(self) -> None:
        """Raise the first error (with a count of the rest) if there is any."""
        if self.errors:
            first = self.errors[0]
            rest = len(self.errors) - 1
            more = f" (and {rest} more error(s); see the validation report)" if rest else ""
            raise DataValidationError(self.file, first["message"] + more, row=first["row"], column=first["column"])


def _values(frame: pd.DataFrame, findings: Findings, column: str) -> pd.Series:
    """Parse the value column to floats, recording nulls, non-numbers, infinities and non-positive values."""
    text = frame["value"].astype(str).str.strip()
    is_null = text.str.lower().isin(NULL_TOKENS)
    numbers = pd.to_numeric(text.where(~is_null), errors="coerce")
    for pos in np.flatnonzero(is_null.to_numpy())[:MAX_LISTED]:
        findings.error("missing value (null)", int(frame["source_row"].iloc[pos]), column)
    not_numeric = numbers.isna() & ~is_null
    for pos in np.flatnonzero(not_numeric.to_numpy())[:MAX_LISTED]:
        raw = text.iloc[pos]
        hint = " (thousands separators are not allowed)" if "," in raw or "_" in raw else ""
        findings.error(f"value {raw!r} is not a number{hint}", int(frame["source_row"].iloc[pos]), column)
    values = numbers.to_numpy(dtype=float, na_value=np.nan)
    for pos in np.flatnonzero(np.isinf(values))[:MAX_LISTED]:
        findings.error(f"value {text.iloc[pos]!r} is infinite", int(frame["source_row"].iloc[pos]), column)
    for pos in np.flatnonzero(np.isfinite(values) & (values <= 0))[:MAX_LISTED]:
        findings.error(f"value {text.iloc[pos]} is not positive", int(frame["source_row"].iloc[pos]), column)
    return pd.Series(values, index=frame.index)


def _order_and_gaps(frame: pd.DataFrame, findings: Findings, column: str) -> pd.DataFrame:
    """Sort rows by month (a reported fix), then record duplicate and missing months."""
    months = pd.PeriodIndex(frame["month"], freq="M")
    if not months.is_monotonic_increasing:
        findings.fixes.append("rows were not in date order; sorted by month")
        frame = frame.iloc[np.argsort(months.asi8, kind="stable")].reset_index(drop=True)
        months = pd.PeriodIndex(frame["month"], freq="M")
    dup = months.duplicated(keep="first")
    for pos in np.flatnonzero(dup)[:MAX_LISTED]:
        first = int(frame["source_row"].iloc[int(np.flatnonzero(months == months[pos])[0])])
        findings.error(f"duplicate month {months[pos]} (first seen at row {first})",
                       int(frame["source_row"].iloc[pos]), column)
    steps = np.diff(months.asi8)
    for pos in np.flatnonzero(steps > 1)[:MAX_LISTED]:
        gap = pd.period_range(months[pos] + 1, months[pos + 1] - 1, freq="M")
        missing = f"{gap[0]}" if len(gap) == 1 else f"{gap[0]}..{gap[-1]} ({len(gap)} months)"
        findings.error(f"missing month(s) {missing} before {months[pos + 1]}",
                       int(frame["source_row"].iloc[pos + 1]), column)
    return frame


def profile(series: pd.Series, season_length: int) -> dict[str, Any]:
    """Summary statistics, yearly means and the seasonal profile of a clean monthly series."""
    values = series.to_numpy(dtype=float)
    idx = series.index
    by_year = series.groupby(idx.year).mean()
    by_month = series.groupby(idx.month).mean()
    return {
        "count": int(values.size),
        "first_month": str(idx[0].strftime("%Y-%m")),
        "last_month": str(idx[-1].strftime("%Y-%m")),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "min": float(values.min()),
        "max": float(values.max()),
        "quantiles": {str(q): float(np.quantile(values, q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)},
        "yearly_mean": {str(k): round(float(v), 3) for k, v in by_year.items()},
        "seasonal_index": {str(k): round(float(v / values.mean()), 4) for k, v in by_month.items()},
        "season_length": season_length,
    }


def validate(snapshot: pd.DataFrame, file: str, date_column: str, target_column: str,
             min_rows: int, had_bom: bool = False, season_length: int = 12) -> tuple[pd.Series, dict[str, Any]]:
    """Validate ingested rows; return (clean series indexed by month start, report).

    The report is returned even when validation fails: callers write it, then call
    ``raise_for_report`` so the failure is recorded before the run stops.
    """
    findings = Findings(file=file)
    if had_bom:
        findings.fixes.append("removed a UTF-8 byte-order mark at the start of the file")
    report: dict[str, Any] = {
        "file": file,
        "shape": [len(snapshot), 2],
        "columns": [date_column, target_column],
        "head": snapshot.head(5).rename(columns={"month": date_column, "value": target_column})
                       .drop(columns="source_row").to_dict(orient="records"),
        "null_counts": {date_column: 0,
                        target_column: int(snapshot["value"].astype(str).str.strip().str.lower()
                                           .isin(NULL_TOKENS).sum())},
    }
    series = pd.Series(dtype=float)
    if len(snapshot):
        frame = _order_and_gaps(snapshot, findings, date_column)
        values = _values(frame, findings, target_column)
        series = pd.Series(values.to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(frame["month"]), name="month"),
                           name="value")
    if len(snapshot) < min_rows:
        findings.error(f"{len(snapshot)} data rows, need at least {min_rows} "
                       "(months the model reads + output months + validation windows + holdout or backtest months)")
    report.update({"status": "failed" if findings.errors else "passed", "errors": findings.errors,
                   "warnings": findings.warnings, "fixes": findings.fixes, "rows": len(snapshot)})
    if not findings.errors:
        report["profile"] = profile(series, season_length)
    for fix in findings.fixes:
        logger.warning("%s: %s", file, fix)
    logger.info("validation of %s: %s (%d error(s), %d fix(es))", file, report["status"],
                len(findings.errors), len(findings.fixes))
    return series, report


def raise_for_report(report: dict[str, Any]) -> None:
    """Raise a :class:`DataValidationError` for the first error of a failed report."""
    findings = Findings(file=report["file"], errors=list(report.get("errors", [])))
    findings.raise_if_failed()

