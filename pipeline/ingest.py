"""Step 1: read the monthly CSV, parse its month index and keep only the rows known at the run's date."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.errors import DataValidationError
from pipeline.io import sha256_file, write_bytes

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
SNAPSHOT_COLUMNS = ("source_row", "month", "value")


@dataclass(frozen=True)
class Snapshot:
    """The as-of rows of the source file, as written for the later steps."""

    path: str
    source: str
    rows: int
    sha256: str
    had_bom: bool
    first_month: str | None
    last_month: str | None


def read_raw(path: Path, date_column: str, target_column: str) -> tuple[pd.DataFrame, bool]:
    """Read the CSV as text, keeping each value's line number. Returns (frame, had_byte_order_mark)."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    raw = path.read_bytes()
    had_bom = raw.startswith(UTF8_BOM)
    text = raw[len(UTF8_BOM):].decode("utf-8", errors="strict") if had_bom else _decode(path, raw)
    if not text.strip():
        raise DataValidationError(str(path), "file is empty", row=1)
    frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in (date_column, target_column) if c not in frame.columns]
    if missing:
        hint = ""
        header = text.splitlines()[0]
        sniffed = _sniff_delimiter(header)
        if sniffed not in (None, ","):
            hint = f" (the header looks {sniffed!r}-delimited; the file must be comma-separated)"
        raise DataValidationError(
            str(path), f"missing column(s) {missing}; found {list(frame.columns)}{hint}",
            row=1, column=missing[0])
    frame = frame[[date_column, target_column]].copy()
    frame.insert(0, "source_row", range(2, len(frame) + 2))
    return frame, had_bom


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = raw[: exc.start].count(b"\n") + 1
        raise DataValidationError(str(path), f"not UTF-8 text (byte {exc.start})", row=row) from exc


def _sniff_delimiter(header: str) -> str | None:
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return None


def parse_months(frame: pd.DataFrame, file: str, date_column: str) -> pd.Series:
    """Parse the date column to month starts; an empty or unparseable date is an error naming its row."""
    text = frame[date_column].str.strip()
    parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        first = bad.to_numpy().nonzero()[0][0]
        value = text.iloc[first]
        what = "empty date" if value == "" else f"date {value!r} does not parse (expected YYYY-MM or YYYY-MM-DD)"
        raise DataValidationError(file, f"{what}; {int(bad.sum())} bad date(s) in all",
                                  row=int(frame["source_row"].iloc[first]), column=date_column)
    return parsed.dt.to_period("M").dt.to_timestamp()


def ingest(csv_path: Path, out_path: Path, date_column: str, target_column: str,
           as_of: str | None = None) -> Snapshot:
    """Read ``csv_path`` and write the rows dated before ``as_of`` (all rows if None) to ``out_path``.

    The snapshot keeps the source line number of every row so later errors can name it.
    """
    frame, had_bom = read_raw(csv_path, date_column, target_column)
    if frame.empty:
        raise DataValidationError(str(csv_path), "no data rows (header only)", row=2)
    months = parse_months(frame, str(csv_path), date_column)
    keep = months < pd.Timestamp(as_of).tz_localize(None) if as_of else pd.Series(True, index=frame.index)
    snapshot = pd.DataFrame({
        "source_row": frame["source_row"][keep],
        "month": months[keep].dt.strftime("%Y-%m"),
        "value": frame[target_column][keep],
    })
    logger.info("ingested %s: %d rows, %d dated before %s", csv_path, len(frame), len(snapshot), as_of or "any date")
    write_bytes(out_path, snapshot.to_csv(index=False).encode("utf-8"))
    ordered = snapshot["month"].sort_values()
    return Snapshot(path=str(out_path), source=str(csv_path), rows=len(snapshot), sha256=sha256_file(out_path),
                    had_bom=had_bom, first_month=ordered.iloc[0] if len(ordered) else None,
                    last_month=ordered.iloc[-1] if len(ordered) else None)


def read_snapshot(path: str | Path) -> pd.DataFrame:
    """Read a snapshot written by :func:`ingest` (values stay text until validated)."""
    return pd.read_csv(path, dtype={"source_row": int, "month": str, "value": str}, keep_default_na=False)
