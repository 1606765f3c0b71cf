"""Step 2: check the ingested rows and turn them into a clean monthly series, or fail naming file, row and column."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.data.ingest import MAX_LISTED, Table, month_text, read_table
from pipeline.errors import DataValidationError

logger = logging.getLogger(__name__)


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


def _order(table: Table, findings: Findings) -> np.ndarray:
    """Positions of the rows in month order (a reported fix when the file was not in order)."""
    if np.all(np.diff(table.months) >= 0):
        return np.arange(len(table))
    findings.fixes.append("rows were not in date order; sorted by month")
    return np.argsort(table.months, kind="stable")


def _calendar(months: np.ndarray, rows: np.ndarray, findings: Findings, column: str) -> None:
    """Record duplicate and missing months (``months`` sorted)."""
    steps = np.diff(months)
    for pos in np.flatnonzero(steps == 0)[:MAX_LISTED] + 1:
        first = int(rows[np.searchsorted(months, months[pos])])
        findings.error(f"duplicate month {month_text(int(months[pos]))} (first seen at row {first})",
                       int(rows[pos]), column)
    for pos in np.flatnonzero(steps > 1)[:MAX_LISTED]:
        gap_start, gap_end = int(months[pos]) + 1, int(months[pos + 1]) - 1
        missing = (month_text(gap_start) if gap_start == gap_end else
                   f"{month_text(gap_start)}..{month_text(gap_end)} ({gap_end - gap_start + 1} months)")
        findings.error(f"missing month(s) {missing} before {month_text(int(months[pos + 1]))}",
                       int(rows[pos + 1]), column)


def _positive(values: np.ndarray, rows: np.ndarray, findings: Findings, column: str) -> None:
    """Record values that are not positive (the model works on log values)."""
    for pos in np.flatnonzero(np.isfinite(values) & (values <= 0))[:MAX_LISTED]:
        findings.error(f"value {values[pos]:g} is not positive", int(rows[pos]), column)


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


def month_index(months: np.ndarray) -> pd.DatetimeIndex:
    """Month starts of month indexes (``year * 12 + month - 1``)."""
    ordinals = np.asarray(months, dtype=np.int64) - 1970 * 12
    return pd.PeriodIndex.from_ordinals(ordinals, freq="M").to_timestamp()


def validate(table: Table, min_rows: int, season_length: int = 12) -> tuple[pd.Series, dict[str, Any]]:
    """Validate ingested rows; return (clean series indexed by month start, empty when refused; report).

    The report is returned even when validation fails: callers write it, then call
    ``raise_for_report`` so the failure is recorded before the run stops.
    """
    file = table.source
    date_column, target_column = table.columns
    findings = Findings(file=file)
    if table.had_bom:
        findings.fixes.append("removed a UTF-8 byte-order mark at the start of the file")
    report: dict[str, Any] = {
        "file": file,
        "shape": [len(table), 2],
        "columns": [date_column, target_column],
        "head": [{date_column: month_text(int(m)), target_column: None if np.isnan(v) else float(v)}
                 for m, v in zip(table.months[:5], table.values[:5], strict=True)],
        "null_counts": {date_column: 0, target_column: int(table.counts.get("null", 0))},
    }
    order = _order(table, findings)
    months, rows, values = table.months[order], table.rows[order], table.values[order]
    _calendar(months, rows, findings, date_column)
    for problem in sorted(table.problems, key=lambda p: p["row"]):
        findings.error(problem["message"], problem["row"], problem["column"])
    _positive(values, rows, findings, target_column)
    if len(table) < min_rows:
        findings.error(f"{len(table)} data rows, need at least {min_rows} "
                       "(months the model reads + output months + validation windows + holdout or backtest months)")
    report.update({"status": "failed" if findings.errors else "passed", "errors": findings.errors,
                   "warnings": findings.warnings, "fixes": findings.fixes, "rows": len(table)})
    series = pd.Series(dtype=float, name="value")
    if not findings.errors:
        series = pd.Series(values, index=pd.DatetimeIndex(month_index(months), name="month"), name="value")
        report["profile"] = profile(series, season_length)
    for fix in findings.fixes:
        logger.warning("%s: %s", file, fix)
    logger.info("validation of %s: %s (%d error(s), %d fix(es))", file, report["status"],
                len(findings.errors), len(findings.fixes))
    return series, report


def check_csv(path: str | Path, date_column: str, target_column: str, min_rows: int, season_length: int = 12,
              as_of: str | None = None, max_bytes: int = 50 * 2**20) -> tuple[pd.Series, dict[str, Any]]:
    """Read and validate a CSV in memory (no snapshot written): (series, report), or a DataValidationError
    for a file-level problem."""
    return validate(read_table(path, date_column, target_column, as_of, max_bytes), min_rows, season_length)


def raise_for_report(report: dict[str, Any]) -> None:
    """Raise a :class:`DataValidationError` for the first error of a failed report."""
    findings = Findings(file=report["file"], errors=list(report.get("errors", [])))
    findings.raise_if_failed()
