"""Step 2: check the ingested rows series by series; quarantine the series that cannot be used, keep the others.

A series is quarantined, with the reason, when a row of it has a bad date or value, or it has a duplicate or
missing month, or a value outside a declared ``value_domain``: data errors. A series too short to be scored, or
inactive (no recent month, with calendar folds), is reported and left out without counting as an error. The run
fails (naming file, row and column) when more than ``max_quarantine_share`` of the series are quarantined, or when
no series is left to model: a single series with a problem fails the run, as a file-level problem does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.config import Config
from pipeline.data.ingest import read_table
from pipeline.data.panel import Panel
from pipeline.data.table import MAX_LISTED, MAX_PROBLEMS, Table
from pipeline.errors import DataValidationError
from pipeline.metrics import flat
from pipeline.months import calendar_break, month_text

logger = logging.getLogger(__name__)

LONE_MONTHS = 2  # at most this many non-positive months in an otherwise positive series are reported as a typo?


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


def validate(table: Table, cfg: Config, min_months: int | None = None) -> tuple[Panel, dict[str, Any]]:
    """Validate ingested rows with the rules of ``cfg``; return (the panel of the series to model, report).

    Quarantined, with the reason: a series with a data error (a bad date or value, a duplicate or missing month, a
    value outside a declared ``value_domain``). Reported and left out, without counting as errors: a series shorter
    than ``min_series_months`` (``min_months`` overrides it) and, with calendar folds, one inactive for the last
    ``inactive_after`` months. Kept and reported: what ``auto`` inferred of each series' values, lone non-positive
    months of an otherwise positive series (a typo?), and series that never change from year to year (forecast by
    rule). The report is returned even when validation fails: callers write it, then call ``raise_for_report`` so
    the failure is recorded before the run stops.
    """
    season_length, max_quarantine_share = cfg.season_length, cfg.max_quarantine_share
    min_months = cfg.min_series_months if min_months is None else min_months
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
    if cfg.value_domain in domains.RULES:
        rule = domains.RULES[cfg.value_domain]
        problems.add_where(np.isfinite(values) & domains.outside(values, cfg.value_domain), series, rows, value_column,
                           lambda pos: f"value {values[pos]:g} {rule} (value_domain {cfg.value_domain})")
    counts = np.bincount(series, minlength=n)
    ends = np.full(n, -1, dtype=np.int64)
    np.maximum.at(ends, series, months)
    last = int(ends.max()) if len(table) else -1
    left_out: dict[str, list[int]] = {"short": [], "inactive": []}
    for code in range(n):
        if problems.counts[code]:
            continue
        if counts[code] < min_months:
            left_out["short"].append(code)
        elif cfg.fold_alignment == "calendar" and ends[code] <= last - cfg.inactive_after:
            left_out["inactive"].append(code)
    quarantined = [code for code in range(n) if problems.counts[code]]
    skipped = set(left_out["short"]) | set(left_out["inactive"])
    modelled = [code for code in range(n) if not problems.counts[code] and code not in skipped]
    quarantine = [{"series": table.ids[c], "title": table.titles[c], "reason": problems.by_series[c][0]["message"],
                   "row": problems.by_series[c][0]["row"], "column": problems.by_series[c][0]["column"],
                   "problems": int(problems.counts[c])} for c in quarantined]
    share = len(quarantined) / n if n else 1.0
    failed = not modelled or share > max_quarantine_share
    listed = [{**p, "series": table.ids[c]} for c in quarantined for p in problems.by_series[c]]
    short = [{"series": table.ids[c], "title": table.titles[c], "months": int(counts[c]),
              "reason": f"{counts[c]} months, fewer than min_series_months {min_months}: not modelled"}
             for c in left_out["short"]]
    inactive = [{"series": table.ids[c], "title": table.titles[c], "last_month": month_text(int(ends[c])),
                 "reason": f"no month since {month_text(int(ends[c]))}, {last - int(ends[c])} months before the "
                 f"panel's last month {month_text(last)} (inactive_after {cfg.inactive_after}): not forecast"}
                for c in left_out["inactive"]]
    if failed:
        findings.errors = listed or [_nothing_to_model(table, short, inactive, date_column, min_months)]
    elif quarantined:
        findings.warnings.append(f"{len(quarantined)} of {n} series quarantined")
    for kind, items in (("too short", short), ("inactive", inactive)):
        if items and not failed:
            findings.warnings.append(f"{len(items)} of {n} series {kind}: reported, not modelled")
    keep = np.zeros(n, dtype=bool)
    keep[modelled] = True
    panel = _panel(table, keep, series, months, values) if not failed else Panel([], [], *_empty())
    values_of = {table.ids[c]: panel.values_of(i) for i, c in enumerate(modelled)} if not failed else {}
    found = domains.kinds(values_of.values(), cfg.value_domain)
    anomalies = _lone_nonpositive(series, rows, values, modelled, table, value_column) \
        if cfg.value_domain == "auto" else []
    findings.warnings += [a["message"] for a in anomalies[:MAX_LISTED]]
    unchanging = [sid for sid, v in values_of.items() if flat(v, season_length)]
    report: dict[str, Any] = {
        "file": file, "shape": [len(table), 2 + bool(columns["series"]) + bool(columns["title"])],
        "columns": [c for c in (columns["series"], columns["title"], date_column, value_column) if c],
        "head": [{date_column: month_text(int(m)), value_column: None if np.isnan(v) else float(v)}
                 for m, v in zip(table.months[:5], table.values[:5], strict=True)],
        "null_counts": {date_column: int(table.counts.get("date", 0)),
                        value_column: int(table.counts.get("null", 0))},
        "status": "failed" if failed else "passed", "errors": findings.errors, "problems": listed,
        "warnings": findings.warnings, "fixes": findings.fixes, "rows": len(table),
        "series": {"in": n, "quarantined": len(quarantined), "inactive": len(inactive), "short": len(short),
                   "kept": len(modelled)},
        "quarantine": quarantine, "max_quarantine_share": max_quarantine_share,
        "inactive": inactive, "short": short,
        "value_domain": {"setting": cfg.value_domain, "domain": domains.widest(found),
                         "series": {k: int(np.sum(found == k)) for k in domains.KINDS}},
        "anomalies": anomalies,
        "flat": {"series": len(unchanging), "ids": unchanging[:MAX_LISTED],
                 "rule": "every month equals the same month a year earlier: forecast by seasonal naive, not "
                         "trained on or scored by MASE"},
    }
    if failed and n > 1 and quarantined:
        report["failure_suffix"] = (f" ({len(quarantined)} of {n} series quarantined, over the "
                                    f"{max_quarantine_share:.0%} allowed)")
    if not failed:
        report["profile"] = panel_profile(panel, season_length)
    for fix in findings.fixes:
        logger.warning("%s: %s", file, fix)
    for item in quarantine[:10]:
        logger.warning("%s: series %s quarantined: %s", file, item["series"], item["reason"])
    for item in anomalies[:10]:
        logger.warning("%s: %s", file, item["message"])
    logger.info("validation of %s: %s (%d series in, %d quarantined, %d inactive, %d too short, %d modelled; value "
                "domain %s (%s), %d fix(es))", file, report["status"], n, len(quarantined), len(inactive), len(short),
                len(modelled), report["value_domain"]["domain"], cfg.value_domain, len(findings.fixes))
    return panel, report


def _nothing_to_model(table: Table, short: list[dict[str, Any]], inactive: list[dict[str, Any]],
                      column: str, min_months: int) -> dict[str, Any]:
    """The error of a file with no series to model and no data error: naming its first series' problem."""
    if short:
        first = short[0]
        code = table.ids.index(first["series"])
        row = int(table.rows[table.series == code].max())
        return {"row": row, "column": column, "series": first["series"],
                "message": f"{first['months']} data rows, need at least {min_months} (min_series_months)"
                           + (f"; {len(short)} series are that short" if len(short) > 1 else "")}
    if inactive:
        return {"row": None, "column": column, "series": inactive[0]["series"],
                "message": f"every series is inactive: {inactive[0]['reason']}"}
    return {"row": 2, "column": None, "message": "no data rows"}


def _lone_nonpositive(series: np.ndarray, rows: np.ndarray, values: np.ndarray, modelled: list[int], table: Table,
                      column: str) -> list[dict[str, Any]]:
    """Months at or below zero in a series whose other months are all positive, when they are few (at most
    ``LONE_MONTHS`` and 5 % of its months): accepted, but a likely typo (a sign, a missing value typed as 0).
    One pass over the rows (counts per series), whatever the number of series."""
    n = len(table.ids)
    wanted = np.zeros(n, dtype=bool)
    wanted[modelled] = True
    low_rows = values <= 0  # NaN is not
    months = np.bincount(series, minlength=n)
    low = np.bincount(series[low_rows], minlength=n)
    lone = wanted & (low > 0) & (low <= np.minimum(LONE_MONTHS, 0.05 * months))
    found = np.flatnonzero(low_rows & lone[series])
    found = found[np.lexsort((found, series[found]))]  # by series, then row order within it
    out = []
    for pos in found:
        code = int(series[pos])
        out.append({"series": table.ids[code], "row": int(rows[pos]), "column": column, "value": float(values[pos]),
                    "message": f"series {table.ids[code]}, row {int(rows[pos])}, column '{column}': value "
                               f"{values[pos]:g} is one of {int(low[code])} month(s) at or below zero among "
                               f"{int(months[code])} otherwise positive: accepted (value_domain auto), but a typo? "
                               "Set value_domain: positive to refuse it"})
    return out


def _calendar(series: np.ndarray, months: np.ndarray, rows: np.ndarray, problems: _Problems, column: str) -> None:
    """Record duplicate and missing months (rows sorted by series, then month; equal ones in file order)."""
    same = series[1:] == series[:-1]
    steps = np.diff(months)
    repeated = same & (steps == 0)
    run_start = np.maximum.accumulate(np.where(np.concatenate([[True], ~repeated]), np.arange(len(series)), 0))

    def broken(pos: int) -> str:  # between the months of rows pos and pos + 1
        return calendar_break(int(months[pos]), int(months[pos + 1]))

    def duplicate(pos: int) -> str:
        return f"{broken(pos)} (first seen at row {int(rows[run_start[pos + 1]])})"

    problems.add_where(repeated, series[1:], rows[1:], column, duplicate)
    problems.add_where(same & (steps > 1), series[1:], rows[1:], column, broken)


def _panel(table: Table, keep: np.ndarray, series: np.ndarray, months: np.ndarray, values: np.ndarray) -> Panel:
    """The kept series (rows sorted by series then month, contiguous once validated) as a panel."""
    mask = keep[series]
    series, months, values = series[mask], months[mask], values[mask]
    codes, first, counts = np.unique(series, return_index=True, return_counts=True)
    return Panel([table.ids[c] for c in codes], [table.titles[c] for c in codes], months[first].astype(np.int32),
                 np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), values.astype(np.float64), table.source)


def _empty() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), np.zeros(0)


def check_csv(path: str | Path, cfg: Config, as_of: str | None = None, min_months: int | None = None
              ) -> tuple[Panel, dict[str, Any]]:
    """Read and validate a CSV in memory (no snapshot written) with the columns, limits and rules of ``cfg``
    (``min_months`` overrides the months a series needs): (panel, report), or a DataValidationError for a
    file-level problem."""
    return validate(read_table(path, cfg, as_of), cfg, min_months)


def raise_for_report(report: dict[str, Any]) -> None:
    """Raise a :class:`DataValidationError` for the first error of a failed report."""
    findings = Findings(file=report["file"], errors=list(report.get("errors", [])))
    findings.raise_if_failed(report.get("failure_suffix", ""))
