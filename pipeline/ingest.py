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
MONTH_PATTERN = r"^(\d{4})-(\d{1,2})(?:-(\d{1,2}))?(?:[T ][0-9:.+Z-]*)?$"


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


def read_raw(path: Path, date_column: str, target_column: str,
             max_bytes: int = 50 * 2**20) -> tuple[pd.DataFrame, bool]:
    """Read the CSV as text, keeping each row's line number. Returns (frame, had_byte_order_mark)."""
    if not path.is_file():
        raise DataValidationError(str(path), "file not found")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataValidationError(str(path), f"file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:.0f} MiB "
                                  "limit (max_file_mb) for a monthly series")
    raw = path.read_bytes()
    had_bom = raw.startswith(UTF8_BOM)
    text = _decode(path, raw[len(UTF8_BOM):] if had_bom else raw)
    if not text.strip():
        raise DataValidationError(str(path), "file is empty", row=1)
    reader = csv.reader(io.StringIO(text))
    header = [name.strip() for name in next(reader)]
    missing = [c for c in (date_column, target_column) if c not in header]
    if missing:
        sniffed = _sniff_delimiter(text.splitlines()[0])
        hint = (f" (the header looks {sniffed!r}-delimited; the file must be comma-separated)"
                if sniffed not in (None, ",") else "")
        raise DataValidationError(str(path), f"missing column(s) {missing}; found {header}{hint}",
                                  row=1, column=missing[0])
    records, lines = [], []
    for fields in reader:
        if not any(field.strip() for field in fields):
            continue  # blank line
        if len(fields) != len(header):
            hint = (" (an unquoted thousands separator, like 1,200?)" if len(fields) > len(header) else "")
            raise DataValidationError(str(path), f"{len(fields)} fields, the header has {len(header)}{hint}",
                                      row=reader.line_num, column=header[min(len(fields), len(header)) - 1])
        records.append([field.strip() for field in fields])
        lines.append(reader.line_num)
    frame = pd.DataFrame(records, columns=header, dtype=str)[[date_column, target_column]]
    frame.insert(0, "source_row", lines)
    return frame.reset_index(drop=True), had_bom


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
    """Parse ``YYYY-MM`` or ``YYYY-MM-DD`` dates to month starts.

    An empty or unparseable date, or a month after the current one (a mistyped year), is an error naming its row.
    """
    parts = frame[date_column].str.strip().str.extract(MONTH_PATTERN)
    year = pd.to_numeric(parts[0], errors="coerce")
    month = pd.to_numeric(parts[1], errors="coerce")
    day = pd.to_numeric(parts[2], errors="coerce").fillna(1)
    bad = year.isna() | ~month.between(1, 12) | ~day.between(1, 31)
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        value = frame[date_column].iloc[first].strip()
        what = "empty date" if value == "" else f"date {value!r} does not parse (expected YYYY-MM or YYYY-MM-DD)"
        raise DataValidationError(file, f"{what}; {int(bad.sum())} bad date(s) in all",
                                  row=int(frame["source_row"].iloc[first]), column=date_column)
    now = pd.Timestamp.now(tz="UTC")
    future = ((year > now.year) | ((year == now.year) & (month > now.month))).to_numpy().nonzero()[0]
    if len(future):
        first = int(future[0])
        raise DataValidationError(file, f"month {int(year.iloc[first]):04d}-{int(month.iloc[first]):02d} is in the "
                                  "future (a mistyped year?)", row=int(frame["source_row"].iloc[first]),
                                  column=date_column)
    return pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))


def ingest(csv_path: Path, out_path: Path, date_column: str, target_column: str,
           as_of: str | None = None, max_bytes: int = 50 * 2**20) -> Snapshot:
    """Read ``csv_path`` and write the rows dated before ``as_of`` (all rows if None) to ``out_path``.

    The snapshot keeps the source line number of every row so later errors can name it.
    """
    frame, had_bom = read_raw(csv_path, date_column, target_column, max_bytes)
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
