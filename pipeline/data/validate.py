"""Step 2: check the ingested rows series by series; quarantine the series that cannot be used, keep the others.

A series is quarantined, with the reason, when a row of it has a bad date or value, or it has a duplicate or
missing month, a value that is not positive, too few months, or no data up to the panel's last month. The run
fails (naming file, row and column) when more than ``max_quarantine_share`` of the series are quarantined, or
all of them: a single series with a problem fails the run, as a file-level problem does.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.data.ingest import MAX_PROBLEMS, Table, read_table
from pipeline.data.panel import Panel
from pipeline.errors import DataValidationError
from pipeline.months import month_text

logger = logging.getLogger(__name__)


@dataclass
class Findings:
    """What validation found: errors stop the run, warnings and fixes are reported."""

    file: str
    errors: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    fixes: list[str] = field(default_factory=list)

    def raise_if_failed(self, suffix: str = "") -> None:
        """Raise the first error (with a count of the rest) if there is any."""
        if self.errors:
            first = self.errors[0]
            rest = len(self.errors) - 1
            more = f" (and {rest} more error(s); see the validation report)" if rest else ""
            raise DataValidationError(self.file, first["message"] + more + suffix, row=first["row"],
                                      column=first["column"])


class _Problems:
    """Problems by series: all counted; listed up to 20 a series and ``MAX_PROBLEMS`` in all, but always the
    first of every series (its quarantine reason)."""

    def __init__(self, n_series: int):
        self.by_series: list[list[dict[str, Any]]] = [[] for _ in range(n_series)]
        self.counts = np.zeros(n_series, dtype=np.int64)
        self.listed = 0

    def add(self, series: int, row: int | None, column: str | None, message: str, count: bool = True) -> None:
        if count:
            self.counts[series] += 1
        listed = self.by_series[series]
        if not listed or (len(listed) < 20 and self.listed < MAX_PROBLEMS):
            listed.append({"row": row, "column": column, "message": message})
            self.listed += 1

    def add_where(self, mask: np.ndarray, series: np.ndarray, rows: np.ndarray, column: str, message) -> None:
        """Record a problem at each position of ``mask``; ``message(position)`` only for those listed."""
        positions = np.flatnonzero(mask)
        if not len(positions):
            return
        np.add.at(self.counts, series[positions], 1)
        _, first = np.unique(series[positions], return_index=True)
        for pos in np.union1d(positions[first], positions[:MAX_PROBLEMS]):
            self.add(int(series[pos]), int(rows[pos]), column, message(pos), count=False)


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


def panel_profile(panel: Panel, season_length: int) -> dict[str, Any]:
    """The detailed profile of a single series; for a panel, its shape (series, months per series, range)."""
    if len(panel) == 1:
        return profile(panel.series(0), season_length)
    lengths = np.diff(panel.offsets)
    return {"series": len(panel), "count": int(lengths.sum()),
            "first_month": month_text(int(panel.starts.min())), "last_month": month_text(panel.last_month),
            "months_per_series": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                                  "max": int(lengths.max())},
            "min": float(panel.values.min()), "max": float(panel.values.max()), "season_length": season_length}


def validate(table: Table, min_rows: int, season_length: int = 12,
             max_quarantine_share: float = 0.0) -> tuple[Panel, dict[str, Any]]:
    """Validate ingested rows; return (the panel of the series kept, report).

    The report is returned even when validation fails: callers write it, then call ``raise_for_report`` so the
    failure is recorded before the run stops.
    """
    file, columns = table.source, table.columns
    date_column, value_column = columns["date"], columns["value"]
    findings = Findings(file=file)
    if table.had_bom:
        findings.fixes.append("removed a UTF-8 byte-order mark at the start of the file")
    n = len(table.ids)
    problems = _Problems(n)
    for problem in sorted(table.problems, key=lambda p: p["row"]):  # the reader's: dates, values
        problems.add(problem["series"], problem["row"], problem["column"], problem["message"], count=False)
    for code, count in table.bad_series.items():  # every one counts, listed or not
        problems.counts[code] += count
    order = np.lexsort((table.months, table.series))
    if not np.array_equal(order, np.arange(len(table))):
        findings.fixes.append("rows were not in date order; sorted by month" if n == 1 else
                              "rows were not in series and date order; sorted")
    series, months, rows, values = (table.series[order], table.months[order], table.rows[order],
                                    table.values[order])
    _calendar(series, months, rows, problems, date_column)
    problems.add_where(np.isfinite(values) & (values <= 0), series, rows, value_column,
                       lambda pos: f"value {values[pos]:g} is not positive")
    counts = np.bincount(series, minlength=n)
    ends = np.full(n, -1, dtype=np.int64)
    np.maximum.at(ends, series, months)
    last = int(ends.max()) if len(table) else -1
    for code in range(n):
        if counts[code] < min_rows:
            problems.add(code, None, None, f"{counts[code]} data rows, need at least {min_rows} (months the model "
                         "reads + output months + validation windows + holdout or backtest months)")
        elif ends[code] < last:
            problems.add(code, None, date_column, f"the series ends at {month_text(int(ends[code]))}, before the "
                         f"panel's last month {month_text(last)} (no recent data)")
    _flat(series, rows, values, problems, season_length, value_column)
    quarantined = [code for code in range(n) if problems.counts[code]]
    quarantine = [{"series": table.ids[c], "title": table.titles[c], "reason": problems.by_series[c][0]["message"],
                   "row": problems.by_series[c][0]["row"], "column": problems.by_series[c][0]["column"],
                   "problems": int(problems.counts[c])} for c in quarantined]
    share = len(quarantined) / n if n else 1.0
    failed = n == 0 or len(quarantined) == n or share > max_quarantine_share
    listed = [{**p, "series": table.ids[c]} for c in quarantined for p in problems.by_series[c]]
    if failed:
        findings.errors = listed or [{"row": 2, "column": None, "message": "no data rows"}]
    elif quarantined:
        findings.warnings.append(f"{len(quarantined)} of {n} series quarantined")
    report: dict[str, Any] = {
        "file": file, "shape": [len(table), 2 + bool(columns["series"]) + bool(columns["title"])],
        "columns": [c for c in (columns["series"], columns["title"], date_column, value_column) if c],
        "head": [{date_column: month_text(int(m)), value_column: None if np.isnan(v) else float(v)}
                 for m, v in zip(table.months[:5], table.values[:5], strict=True)],
        "null_counts": {date_column: int(table.counts.get("date", 0)),
                        value_column: int(table.counts.get("null", 0))},
        "status": "failed" if failed else "passed", "errors": findings.errors, "problems": listed,
        "warnings": findings.warnings, "fixes": findings.fixes, "rows": len(table),
        "series": {"in": n, "quarantined": len(quarantined), "kept": n - len(quarantined)},
        "quarantine": quarantine, "max_quarantine_share": max_quarantine_share,
    }
    if failed and n > 1:
        report["failure_suffix"] = (f" ({len(quarantined)} of {n} series quarantined, over the "
                                    f"{max_quarantine_share:.0%} allowed)")
    keep = np.ones(n, dtype=bool)
    keep[quarantined] = False
    panel = _panel(table, keep, series, months, values) if not failed else Panel([], [], *_empty())
    if not failed:
        report["profile"] = panel_profile(panel, season_length)
    for fix in findings.fixes:
        logger.warning("%s: %s", file, fix)
    for item in quarantine[:10]:
        logger.warning("%s: series %s quarantined: %s", file, item["series"], item["reason"])
    logger.info("validation of %s: %s (%d series in, %d quarantined, %d fix(es))", file, report["status"], n,
                len(quarantined), len(findings.fixes))
    return panel, report


def _calendar(series: np.ndarray, months: np.ndarray, rows: np.ndarray, problems: _Problems, column: str) -> None:
    """Record duplicate and missing months (rows sorted by series, then month; equal ones in file order)."""
    same = series[1:] == series[:-1]
    steps = np.diff(months)
    repeated = same & (steps == 0)
    run_start = np.maximum.accumulate(np.where(np.concatenate([[True], ~repeated]), np.arange(len(series)), 0))

    def duplicate(pos: int) -> str:
        return (f"duplicate month {month_text(int(months[pos + 1]))} (first seen at row "
                f"{int(rows[run_start[pos + 1]])})")

    def gap(pos: int) -> str:
        start, end = int(months[pos]) + 1, int(months[pos + 1]) - 1
        missing = (month_text(start) if start == end else
                   f"{month_text(start)}..{month_text(end)} ({end - start + 1} months)")
        return f"missing month(s) {missing} before {month_text(int(months[pos + 1]))}"

    problems.add_where(repeated, series[1:], rows[1:], column, duplicate)
    problems.add_where(same & (steps > 1), series[1:], rows[1:], column, gap)


def _flat(series: np.ndarray, rows: np.ndarray, values: np.ndarray, problems: _Problems, season_length: int,
          column: str) -> None:
    """Record series (not quarantined yet) whose every month equals the same month a year earlier: MASE, the
    error scaled by that change, has no scale for them (the error names the series' last row)."""
    starts = np.concatenate([[0], np.flatnonzero(np.diff(series)) + 1, [len(series)]])
    for begin, end in itertools.pairwise(starts):
        code, part = int(series[begin]), values[begin:end]
        if problems.counts[code] or len(part) <= season_length:
            continue
        if np.all(part[season_length:] == part[:-season_length]):
            problems.add(code, int(rows[end - 1]), column, "every month equals the same month a year earlier: the "
                         "series has no change to scale errors by (MASE)")


def _panel(table: Table, keep: np.ndarray, series: np.ndarray, months: np.ndarray, values: np.ndarray) -> Panel:
    """The kept series (rows sorted by series then month, contiguous once validated) as a panel."""
    mask = keep[series]
    series, months, values = series[mask], months[mask], values[mask]
    codes, first, counts = np.unique(series, return_index=True, return_counts=True)
    return Panel([table.ids[c] for c in codes], [table.titles[c] for c in codes], months[first].astype(np.int32),
                 np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), values.astype(np.float64), table.source)


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), np.zeros(0)


def check_csv(path: str | Path, cfg: Config, as_of: str | None = None, min_rows: int | None = None
              ) -> tuple[Panel, dict[str, Any]]:
    """Read and validate a CSV in memory (no snapshot written) with the columns, limits and rules of ``cfg``
    (``min_rows`` overrides the months a series needs): (panel, report), or a DataValidationError for a
    file-level problem."""
    table = read_table(path, cfg, as_of)
    return validate(table, cfg.min_rows if min_rows is None else min_rows, cfg.season_length, cfg.max_quarantine_share)


def raise_for_report(report: dict[str, Any]) -> None:
    """Raise a :class:`DataValidationError` for the first error of a failed report."""
    findings = Findings(file=report["file"], errors=list(report.get("errors", [])))
    findings.raise_if_failed(report.get("failure_suffix", ""))
