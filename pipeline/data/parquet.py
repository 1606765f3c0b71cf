"""Parquet input: a file, or a folder of partition files (read in name order), into the same :class:`Table` as the
CSV reader, column by column with pyarrow (no Python loop over rows).

The checks are the CSV reader's, vectorised: a missing column, a column of a type that cannot hold its data, an
empty series id and an oversized input stop the read with a :class:`DataValidationError` naming the file, the row
(1-based, within that file) and the column; a date that is not a real month from ``EARLIEST_MONTH`` to now, a null,
NaN or infinite value are recorded against the row's series for validation, which quarantines that series. Dates
may be text (``YYYY-MM`` or ``YYYY-MM-DD``, as in a CSV), dates or timestamps; values any numeric type (text values
are read by the CSV rules: a plain decimal number). A row's number in the table is its place in the whole input
(files in name order), so that later messages can name it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.config import Config
from pipeline.data.table import DATE, EARLIEST_MONTH, INFINITIES, MAX_LISTED, MAX_PROBLEMS, NULL_TOKENS, NUMBER, Table
from pipeline.errors import DataValidationError, excerpt
from pipeline.months import as_of_month, current_month, month_text

if TYPE_CHECKING:
    import pyarrow as pa

SUFFIXES = (".parquet", ".pq")
Fail = Callable[[int, str, str], DataValidationError]  # (position in the input, column, message) -> the error


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names Parquet input: a ``.parquet`` file, or a folder holding ``.parquet`` files."""
    path = Path(path)
    if path.is_dir():
        return any(p.suffix in SUFFIXES for p in path.iterdir())
    return path.suffix in SUFFIXES


def files_of(path: Path, max_bytes: int) -> list[Path]:
    """The Parquet files of ``path`` (itself, or a folder's in name order), within the size limit."""
    if not path.exists():
        raise DataValidationError(str(path), "file not found")
    files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES) if path.is_dir() else [path]
    if not files:
        raise DataValidationError(str(path), "a folder without .parquet files")
    size = sum(p.stat().st_size for p in files)
    if size > max_bytes:
        raise DataValidationError(str(path), f"the input is {size / 2**20:.1f} MiB, over the {max_bytes / 2**20:g} "
                                  "MiB limit (max_file_mb)")
    return files


class _Problems:
    """Row problems of the whole input, in row order, kept as the CSV reader keeps them (every one counted against
    its series; at most ``MAX_LISTED`` a series and ``MAX_PROBLEMS`` in all listed)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.series: list[np.ndarray] = []
        self.columns: list[str] = []
        self.messages: list[Callable[[int], str]] = []  # each add's message of its k-th row
        self.counts = {"null": 0, "not_number": 0, "infinite": 0, "date": 0}

    def add(self, kind: str, rows: np.ndarray, series: np.ndarray, column: str,
            messages: Callable[[int], str]) -> None:
        if len(rows):
            self.counts[kind] += len(rows)
            self.rows.append(rows)
            self.series.append(series)
            self.columns.append(column)
            self.messages.append(messages)

    def listed(self) -> tuple[list[dict[str, Any]], dict[int, int]]:
        if not self.rows:
            return [], {}
        rows = np.concatenate(self.rows)
        series = np.concatenate(self.series)
        which = np.concatenate([np.full(len(r), k) for k, r in enumerate(self.rows)])
        at = np.concatenate([np.arange(len(r)) for r in self.rows])
        order = np.lexsort((which, rows))  # row order; a row's date problem before its value problem
        rows, series, which, at = rows[order], series[order], which[order], at[order]
        codes, counts = np.unique(series, return_counts=True)
        by_series = np.lexsort((np.arange(len(series)), series))
        rank = np.empty(len(series), dtype=np.int64)
        starts = np.searchsorted(series[by_series], codes)
        rank[by_series] = np.arange(len(series)) - np.repeat(starts, counts)
        keep = np.flatnonzero(rank < MAX_LISTED)[:MAX_PROBLEMS]
        problems = [{"row": int(rows[k]), "column": self.columns[which[k]], "series": int(series[k]),
                     "message": self.messages[which[k]](at[k])} for k in keep]
        return problems, {int(c): int(n) for c, n in zip(codes, counts, strict=True)}


def read_parquet_table(path: str | Path, cfg: Config, as_of: str | None = None) -> Table:
    """Read Parquet ``path`` strictly into a :class:`Table` of the rows dated before ``as_of`` (all if None)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    date_column, value_column = cfg.date_column, cfg.target_column
    series_column, title_column = cfg.series_column, cfg.title_column
    wanted = [c for c in (series_column, title_column, date_column, value_column) if c]
    files = files_of(path, cfg.max_file_mb * 2**20)
    parts = []
    for file in files:
        schema = pq.read_schema(file)
        missing = [c for c in wanted if c not in schema.names]
        if missing:
            shown = ", ".join(excerpt(n, 24) for n in schema.names[:6])
            raise DataValidationError(str(file), f"missing column(s) {missing}; found {shown}", column=missing[0])
        parts.append(pq.read_table(file, columns=wanted))
    sizes = np.array([len(p) for p in parts], dtype=np.int64)
    if not sizes.sum():
        raise DataValidationError(str(path), "no data rows")
    if sizes.sum() >= 2**31:
        raise DataValidationError(str(path), f"{sizes.sum():,} rows: over the 2^31 a table may hold")
    table = pa.concat_tables(parts, promote_options="permissive")
    starts = np.concatenate([[0], np.cumsum(sizes)])

    def where(position: int) -> tuple[str, int]:
        """The file and its 1-based row of a position in the whole input."""
        k = int(np.searchsorted(starts, position, side="right")) - 1
        return str(files[k]), position - int(starts[k]) + 1

    def fail(position: int, column: str, message: str) -> DataValidationError:
        file, row = where(position)
        return DataValidationError(file, message, row=row, column=column)

    n = len(table)
    if series_column:
        codes, ids, titles = _series(table, series_column, title_column, fail)
    else:
        codes, ids, titles = np.zeros(n, dtype=np.int32), [path.stem], [path.stem]
    problems = _Problems()
    dates = table.column(date_column)
    months = _months(dates, date_column, fail)
    latest, cut = current_month(), as_of_month(as_of)
    bad_date = ~((months >= EARLIEST_MONTH) & (months <= latest))
    if bad_date.any():
        bad = np.flatnonzero(bad_date)

        def message(k: int, bad: np.ndarray = bad) -> str:
            return _date_problem(dates[int(bad[k])].as_py(), int(months[bad[k]]))

        problems.add("date", bad + 1, codes[bad], date_column, message)
    kept = ~bad_date & (months < cut if cut is not None else True)  # a value is read only for a row kept
    values = _values(table.column(value_column), value_column, fail, problems, codes, kept)
    listed, bad_series = problems.listed()
    return Table(source=str(path), columns={"date": date_column, "value": value_column, "series": series_column,
                                            "title": title_column},
                 rows=(np.flatnonzero(kept) + 1).astype(np.int32), series=codes[kept].astype(np.int32),
                 months=months[kept].astype(np.int32), values=values[kept], ids=ids, titles=titles,
                 problems=listed, counts=problems.counts, bad_series=bad_series)


def _text(kind: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _series(table: pa.Table, column: str, title_column: str, fail: Fail) -> tuple[np.ndarray, list[str], list[str]]:
    """Series codes in order of first appearance, their ids and titles (each series' first title)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    raw = table.column(column)
    if not (_text(raw.type) or pa.types.is_integer(raw.type)):
        raise fail(0, column, f"series ids must be text or whole numbers, the column is {raw.type}")
    text = pc.utf8_trim(pc.cast(raw, pa.string()), " \t")
    empty = pc.fill_null(pc.equal(text, ""), True)
    if pc.any(empty).as_py():
        raise fail(int(np.flatnonzero(empty.to_numpy(zero_copy_only=False))[0]), column, "empty series id")
    encoded = pc.dictionary_encode(text).combine_chunks()
    ids = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    if title_column:
        first = np.unique(codes, return_index=True)[1]
        titles = pc.utf8_trim(pc.cast(table.column(title_column), pa.string()), " \t").take(first).to_pylist()
        titles = [t if t is not None else i for t, i in zip(titles, ids, strict=True)]
    else:
        titles = list(ids)
    return codes, ids, titles


def _months(column: pa.ChunkedArray, name: str, fail: Fail) -> np.ndarray:
    """Each row's month index; -1 where the date is missing or not a real month (a problem, recorded later)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date(column.type) or pa.types.is_timestamp(column.type):
        year, month = pc.year(column), pc.month(column)
        out = (pc.fill_null(year, -1).to_numpy(zero_copy_only=False).astype(np.int64) * 12
               + pc.fill_null(month, 1).to_numpy(zero_copy_only=False) - 1)
        out[pc.is_null(column).to_numpy(zero_copy_only=False)] = -1
        return out
    if not _text(column.type):
        raise fail(0, name, f"dates must be text (YYYY-MM or YYYY-MM-DD), dates or timestamps; the column is "
                            f"{column.type}")
    fast = _year_months(column)
    if fast is not None:
        return fast
    matched = pc.extract_regex(pc.utf8_trim(column, " \t"), f"^{DATE.pattern}$")
    year = pc.cast(pc.fill_null(pc.struct_field(matched, "y"), "0"), pa.int64()).to_numpy(zero_copy_only=False)
    month = pc.cast(pc.fill_null(pc.struct_field(matched, "m"), "0"), pa.int64()).to_numpy(zero_copy_only=False)
    day_text = pc.struct_field(matched, "d")
    day = pc.cast(pc.if_else(pc.equal(pc.fill_null(day_text, ""), ""), "1", day_text), pa.int64())
    day = pc.fill_null(day, 1).to_numpy(zero_copy_only=False)
    valid = pc.is_valid(matched).to_numpy(zero_copy_only=False) & (year >= 1) & (month >= 1) & (month <= 12)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 1, 12) - 1] + (leap & (month == 2))
    valid &= (day >= 1) & (day <= days)
    return np.where(valid, year * 12 + month - 1, -1)


def _year_months(column: pa.ChunkedArray) -> np.ndarray | None:
    """Month indexes of a column whose every value is plain ``YYYY-MM`` (ASCII digits, a real month): sliced, not
    matched by a regular expression, three times faster; None for any other column (the general reading)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column.null_count or not pc.all(pc.equal(pc.binary_length(column), 7)).as_py():
        return None
    year, dash, month = (pc.utf8_slice_codeunits(column, a, b) for a, b in ((0, 4), (4, 5), (5, 7)))
    if not (pc.all(pc.ascii_is_decimal(year)).as_py() and pc.all(pc.ascii_is_decimal(month)).as_py()
            and pc.all(pc.equal(dash, "-")).as_py()):
        return None
    years = pc.cast(year, pa.int64()).to_numpy(zero_copy_only=False)
    months = pc.cast(month, pa.int64()).to_numpy(zero_copy_only=False)
    if not ((months >= 1) & (months <= 12) & (years >= 1)).all():
        return None
    return years * 12 + months - 1


def _date_problem(text: Any, month: int) -> str:
    if month < 0:
        shown = "" if text is None else str(text).strip(" \t")
        return "empty date" if shown == "" else (f"date {excerpt(shown)} does not parse (expected YYYY-MM or "
                                                 "YYYY-MM-DD, a real month and day)")
    if month < EARLIEST_MONTH:
        return f"month {month_text(month)} is before {month_text(EARLIEST_MONTH)}, the earliest month supported"
    return f"month {month_text(month)} is in the future (a mistyped year?)"


def _values(column: pa.ChunkedArray, name: str, fail: Fail, problems: _Problems, codes: np.ndarray,
            kept: np.ndarray) -> np.ndarray:
    """The values of the rows kept, as floats; a null, NaN, infinite or (text) not-a-number value is NaN and a
    problem of its row, in the CSV reader's words."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def add(kind: str, mask: np.ndarray, message: Any) -> None:
        if mask.any():
            bad = np.flatnonzero(mask)
            problems.add(kind, bad + 1, codes[bad], name, lambda k: message(int(bad[k])))

    if _text(column.type):
        text = pc.utf8_trim(column, " \t")

        def shown(position: int) -> str:
            return excerpt(text[position].as_py() or "")

        number = pc.fill_null(pc.match_substring_regex(text, "^" + NUMBER.pattern + "$"), False)
        values = pc.cast(pc.if_else(number, text, None), pa.float64()).to_numpy(zero_copy_only=False)
        lowered = pc.utf8_lower(pc.fill_null(text, ""))
        null = pc.is_in(lowered, pa.array(sorted(NULL_TOKENS))).to_numpy(zero_copy_only=False) & kept
        infinite = pc.is_in(lowered, pa.array(sorted(INFINITIES))).to_numpy(zero_copy_only=False) & kept
        number = number.to_numpy(zero_copy_only=False)
        large = number & np.isinf(values) & kept
        other = ~number & ~null & ~infinite & kept
        add("null", null, lambda _p: "missing value (null)")
        add("infinite", infinite, lambda p: f"value {shown(p)} is infinite")
        add("infinite", large, lambda p: f"value {shown(p)} is too large (out of range)")
        add("not_number", other, lambda p: f"value {shown(p)} is not a number"
            + (" (thousands separators are not allowed)" if any(c in (text[p].as_py() or "") for c in ",_ ")
               else ""))
        bad = null | infinite | large | other
    elif pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type):
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        null, infinite = np.isnan(values) & kept, np.isinf(values) & kept
        add("null", null, lambda _p: "missing value (null)")
        add("infinite", infinite, lambda p: f"value {values[p]:g} is infinite")
        bad = null | infinite
    else:
        raise fail(0, name, f"values must be numbers, the column is {column.type}")
    return np.where(bad, np.nan, values).astype(np.float64)
