"""Step 1: read the monthly CSV once, strictly and in bounded memory; keep the rows known at the run's date.

The file is read line by line as bytes: a line break that is not LF or CRLF, a row longer than
``MAX_ROW_BYTES``, bytes that are not UTF-8, a control or invisible character, a quoted field that runs over a
line break, bad quoting, a duplicate or missing column, a ragged row and a row without a series id each stop the
read with a :class:`DataValidationError` naming file, row and column: the file cannot be trusted.
Problems of one row (a date that is not a real month from ``EARLIEST_MONTH`` to now; a value that is null, not a
plain decimal number, or infinite) are recorded against the row's series for validation, which quarantines that
series. Each value is parsed here, once, into a float. What is kept is four typed arrays (line, series, month,
value): 20 bytes a row, whatever the text looked like.

A file without a series column (``series_column`` empty) is a panel of one series, named after the file. Parquet
input (a ``.parquet`` file, or a folder of them) is read column by column by :mod:`pipeline.data.parquet`, by the
same rules, into the same table.
"""

from __future__ import annotations

import calendar
import csv
import logging
import re
import unicodedata
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pipeline.config import Config
from pipeline.data.parquet import is_parquet, read_parquet_table
from pipeline.data.table import DATE, EARLIEST_MONTH, INFINITIES, MAX_LISTED, MAX_PROBLEMS, NULL_TOKENS, NUMBER, Table
from pipeline.errors import DataValidationError, excerpt
from pipeline.months import as_of_month, current_month, index_of, month_text

logger = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
MAX_ROW_BYTES = 4096  # a row of dates and numbers is far shorter; anything longer is not this kind of file
# C0/C1 controls but tab (CR and LF are line breaks, checked apart), and the invisible format characters.
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\xad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                       "\u2060-\u206f\ufeff\ufff9-\ufffb]")
BLANK = " \t"


def _month_index(found: re.Match[str]) -> int | None:
    year, month, day = int(found[1]), int(found[2]), int(found[3] or 1)
    if not (year >= 1 and 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]):
        return None
    return index_of(year, month)


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


class _Lines:
    """The file's lines as text, each checked before the CSV parser sees it; ``number`` is the last line read."""

    def __init__(self, handle: BinaryIO, file: str, max_bytes: int):
        self.handle, self.file, self.max_bytes = handle, file, max_bytes
        self.number, self.total, self.had_bom = 0, 0, False
        self.header: list[str] = []
        self.first_text = ""  # the first line of the record being parsed (for messages about quotes)
        self.record_start = 1

    def fail(self, message: str, position: int | None = None, text: str = "") -> DataValidationError:
        column = _column_at(text, position, self.header) if position is not None else None
        return DataValidationError(self.file, message, row=self.number, column=column)

    def __iter__(self) -> Iterator[str]:
        while raw := self.handle.readline(MAX_ROW_BYTES + 1):
            self.number += 1
            self.total += len(raw)
            if self.total > self.max_bytes:  # the size on disk can lie (/proc, a growing file)
                raise self.fail(f"the file is over the {self.max_bytes / 2**20:g} MiB limit (max_file_mb)")
            if self.number == 1 and raw.startswith(UTF8_BOM):
                raw, self.had_bom = raw[len(UTF8_BOM):], True
            text = self._check(raw)
            if self.number == self.record_start:
                self.first_text = text
            yield text

    def _check(self, raw: bytes) -> str:
        cr = raw.find(b"\r")
        if cr != -1 and not (cr == len(raw) - 2 and raw.endswith(b"\n")):
            raise self.fail("a carriage return (CR) that does not end a CRLF line break: the file has old Mac "
                            "(CR-only) line endings or a CR inside a field; save it with LF or CRLF line endings",
                            *_located(raw, cr))
        if len(raw) > MAX_ROW_BYTES and not raw.endswith(b"\n"):
            raise self.fail(f"the row is longer than {MAX_ROW_BYTES} bytes; rows of dates and numbers are short "
                            "(is this the right file?)", *_located(raw, len(raw)))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail(f"not UTF-8 text (byte {exc.start + 1} of the row); save the file as UTF-8",
                            *_located(raw, exc.start)) from None
        bad = INVISIBLE.search(text)
        if bad:
            char = bad.group()
            name = unicodedata.name(char, "control character")
            raise self.fail(f"control or invisible character U+{ord(char):04X} ({name}); fields must be plain text",
                            bad.start(), text)
        return text


def _located(raw: bytes, position: int) -> tuple[int, str]:
    """(character position, text) of byte ``position`` of a raw row, for :func:`_column_at`."""
    text = raw[:position].decode("utf-8", errors="replace")
    return len(text), text


def _column_at(text: str, position: int, header: list[str]) -> str | None:
    """The header name of the field holding ``text[position]`` (quotes respected), if the header is known."""
    if not header:
        return None
    index, quoted = 0, False
    for char in text[:position]:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            index += 1
    return header[index] if index < len(header) else None


class _Rows:
    """Typed columns grown row by row; the series met so far; the row problems, kept against their series."""

    def __init__(self, value_column: str, date_column: str):
        self.value_column, self.date_column = value_column, date_column
        self.rows, self.series = array("i"), array("i")
        self.months, self.values = array("i"), array("d")  # 20 bytes a row in all
        self.codes: dict[str, int] = {}
        self.ids: list[str] = []
        self.titles: list[str] = []
        self.problems: list[dict[str, Any]] = []
        self.counts = {"null": 0, "not_number": 0, "infinite": 0, "date": 0}
        self.bad_series: dict[int, int] = {}

    def code(self, series_id: str, title: str) -> int:
        """The series' code, a new one the first time the id is met."""
        code = self.codes.get(series_id)
        if code is None:
            code = self.codes[series_id] = len(self.ids)
            self.ids.append(series_id)
            self.titles.append(title)
        return code

    def add(self, row: int, series: int, month: int, text: str) -> None:
        self.rows.append(row)
        self.series.append(series)
        self.months.append(month)
        self.values.append(self._parse(row, series, text))

    def _parse(self, row: int, series: int, text: str) -> float:
        if NUMBER.fullmatch(text):
            value = float(text)
            if value == value and abs(value) != float("inf"):
                return value
            return self.problem("infinite", row, series, self.value_column,
                                f"value {excerpt(text)} is too large (out of range)")
        lowered = text.lower()
        if lowered in NULL_TOKENS:
            return self.problem("null", row, series, self.value_column, "missing value (null)")
        if lowered in INFINITIES:
            return self.problem("infinite", row, series, self.value_column, f"value {excerpt(text)} is infinite")
        hint = " (thousands separators are not allowed)" if any(c in text for c in ",_ ") else ""
        return self.problem("not_number", row, series, self.value_column,
                            f"value {excerpt(text)} is not a number{hint}")

    def bad_date(self, row: int, series: int, text: str, month: int | None) -> None:
        if month is None:
            what = ("empty date" if text == "" else
                    f"date {excerpt(text)} does not parse (expected YYYY-MM or YYYY-MM-DD, a real month and day)")
        elif month < EARLIEST_MONTH:
            what = f"month {month_text(month)} is before {month_text(EARLIEST_MONTH)}, the earliest month supported"
        else:
            what = f"month {month_text(month)} is in the future (a mistyped year?)"
        self.problem("date", row, series, self.date_column, what)

    def problem(self, kind: str, row: int, series: int, column: str, message: str) -> float:
        self.counts[kind] += 1
        seen = self.bad_series.get(series, 0)
        self.bad_series[series] = seen + 1
        if seen < MAX_LISTED and len(self.problems) < MAX_PROBLEMS:
            self.problems.append({"row": row, "column": column, "message": message, "series": series})
        return float("nan")


def read_table(path: str | Path, cfg: Config, as_of: str | None = None) -> Table:
    """Read ``path`` strictly into a :class:`Table` of the rows dated before ``as_of`` (all rows if None), with the
    columns and the size limit (``max_file_mb``) of ``cfg``.

    File-level problems raise :class:`DataValidationError` (file, row, column); row problems (dates, values)
    are recorded in the table against their series, for validation to report.
    """
    date_column, target_column = cfg.date_column, cfg.target_column
    series_column, title_column, max_bytes = cfg.series_column, cfg.title_column, cfg.max_file_mb * 2**20
    path = Path(path)
    if is_parquet(path):
        return read_parquet_table(path, cfg, as_of)
    file = str(path)
    if not path.exists():
        raise DataValidationError(file, "file not found")
    if not path.is_file():
        raise DataValidationError(file, "not a regular file")
    size = path.stat().st_size
    if size > max_bytes:
        raise DataValidationError(file, f"file is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} MiB "
                                  "limit (max_file_mb)")
    cut = as_of_month(as_of)
    latest = current_month()
    with open(path, "rb") as handle:
        lines = _Lines(handle, file, max_bytes)
        records = _records(lines)
        header = next(records, None)
        if header is None or not any(name.strip(BLANK) for name in header):
            if header is None or next(records, None) is None:
                raise DataValidationError(file, "file is empty", row=1)
            raise DataValidationError(file, "row 1 is empty: the header must be the first row", row=1)
        names = [name.strip(BLANK) for name in header]
        lines.header = names
        wanted = [date_column, target_column, *(c for c in (series_column, title_column) if c)]
        at = _columns(file, names, wanted)
        date_at, value_at = at[date_column], at[target_column]
        series_at, title_at = at.get(series_column), at.get(title_column)
        table = _Rows(target_column, date_column)
        single = table.code(path.stem, path.stem) if series_at is None else None
        data_rows = 0
        for fields in records:
            if not any(field.strip(BLANK) for field in fields):
                continue  # a blank line
            data_rows += 1
            if len(fields) != len(names):
                hint = " (an unquoted thousands separator, like 1,200?)" if len(fields) > len(names) else ""
                raise DataValidationError(file, f"{len(fields)} fields, the header has {len(names)}{hint}",
                                          row=lines.number, column=names[min(len(fields), len(names)) - 1])
            if single is not None:
                series = single
            else:
                series_id = fields[at[series_column]].strip(BLANK)
                if not series_id:
                    raise DataValidationError(file, "empty series id", row=lines.number, column=series_column)
                series = table.code(series_id, fields[title_at].strip(BLANK) if title_at is not None else series_id)
            text = fields[date_at].strip(BLANK)
            found = DATE.fullmatch(text)
            month = _month_index(found) if found else None
            if month is None or not EARLIEST_MONTH <= month <= latest:
                table.bad_date(lines.number, series, text, month)
            elif cut is None or month < cut:
                table.add(lines.number, series, month, fields[value_at].strip(BLANK))
    if not data_rows:
        raise DataValidationError(file, "no data rows (header only)", row=2)
    columns = {"date": date_column, "value": target_column, "series": series_column, "title": title_column}
    return Table(source=file, columns=columns,  # views of the arrays: no copies
                 rows=np.frombuffer(table.rows, dtype=np.int32), series=np.frombuffer(table.series, dtype=np.int32),
                 months=np.frombuffer(table.months, dtype=np.int32),
                 values=np.frombuffer(table.values, dtype=np.float64), ids=table.ids, titles=table.titles,
                 had_bom=lines.had_bom, problems=table.problems, counts=table.counts, bad_series=table.bad_series)


def _records(lines: _Lines) -> Iterator[list[str]]:
    """CSV records, each from exactly one line: a quoted field may not run over a line break."""
    reader = csv.reader(lines, strict=True)
    while True:
        start = lines.record_start = lines.number + 1
        try:
            fields = next(reader)
            if lines.number > start:
                raise csv.Error("a quoted field that starts on this row runs over a line break (an unbalanced quote?)")
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if "end of data" in problem or "field larger" in problem:
                problem = "a quoted field that starts on this row is never closed (an unbalanced quote)"
            elif "quoted field" not in problem:
                problem = f"bad CSV quoting: {problem}"
            text = lines.first_text
            raise DataValidationError(lines.file, problem, row=start,
                                      column=_column_at(text, text.rfind('"'), lines.header)) from None
        yield fields


def _columns(file: str, names: list[str], wanted: list[str]) -> dict[str, int]:
    """Positions of the wanted columns; a duplicate or missing column is an error on row 1."""
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name and name in seen:
            raise DataValidationError(file, f"column name {excerpt(name)} appears twice (columns {seen[name] + 1} "
                                      f"and {position + 1})", row=1, column=name)
        seen[name] = position
    missing = [c for c in wanted if c not in seen]
    if missing:
        shown = ", ".join(excerpt(n, 24) for n in names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        sniffed = _sniff_delimiter(",".join(names))
        hint = (f" (the header looks {sniffed!r}-delimited; the file must be comma-separated)"
                if sniffed not in (None, ",") else "")
        raise DataValidationError(file, f"missing column(s) {missing}; found {shown}{hint}", row=1,
                                  column=missing[0])
    return {name: seen[name] for name in wanted}


def _sniff_delimiter(header: str) -> str | None:
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return None


def ingest(csv_path: Path, out_path: Path, cfg: Config, as_of: str | None = None) -> Snapshot:
    """Read ``csv_path`` and write the rows dated before ``as_of`` (all rows if None) to ``out_path``.

    The snapshot keeps the source line number of every row so later errors can name it.
    """
    table = read_table(csv_path, cfg, as_of)
    logger.info("ingested %s: %d rows of %d series dated before %s", csv_path, len(table), len(table.ids),
                as_of or "any date")
    table.save(out_path)
    return Snapshot(path=str(out_path), source=str(csv_path), rows=len(table), sha256=table.sha256,
                    had_bom=table.had_bom,
                    first_month=month_text(int(table.months.min())) if len(table) else None,
                    last_month=month_text(int(table.months.max())) if len(table) else None)


def read_snapshot(path: str | Path) -> Table:
    """Read a snapshot written by :func:`ingest`."""
    return Table.load(path)
