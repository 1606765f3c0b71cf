"""The rows of a source file as the steps use them (:class:`Table`: typed arrays of line, series, month and value),
and the rules every reader of a source applies to them (the CSV reader, :mod:`pipeline.data.ingest`; the Parquet
reader, :mod:`pipeline.data.parquet`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.io import sha256_arrays, write_bytes
from pipeline.months import index_of

EARLIEST_MONTH = index_of(1678, 1)  # 1678-01: pandas' timestamps start in September 1677
MAX_LISTED = 20  # problems kept for the report of one series (all are counted)
MAX_PROBLEMS = 1000  # problems kept for the report in all
NULL_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "-"})
INFINITIES = frozenset({"inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})(?:-(?P<d>[0-9]{1,2}))?(?:[T ][0-9:.+Z-]*)?")


@dataclass
class Table:
    """The as-of rows of one source file, typed: file line, series code, month index and value (NaN where
    unreadable); the series' ids and titles; the row problems found while reading, against their series (at
    most ``MAX_LISTED`` kept a series, ``MAX_PROBLEMS`` in all; every one counted in ``bad_series``)."""

    source: str
    columns: dict[str, str]
    rows: np.ndarray
    series: np.ndarray
    months: np.ndarray
    values: np.ndarray
    ids: list[str]
    titles: list[str]
    had_bom: bool = False
    problems: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    bad_series: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def sha256(self) -> str:
        """Digest of the data (series, months and values in file order): equal for equal as-of data."""
        return sha256_arrays(self.ids, (self.series.astype("<i4"), self.months.astype("<i4"),
                                        self.values.astype("<f8")))

    def save(self, path: str | Path) -> Path:
        """Write the table atomically as an uncompressed ``.npz`` (typed arrays, no pickled objects)."""
        import io

        meta = {"source": self.source, "columns": self.columns, "ids": self.ids, "titles": self.titles,
                "had_bom": self.had_bom, "problems": self.problems, "counts": self.counts,
                "bad_series": {str(k): v for k, v in self.bad_series.items()}}
        buffer = io.BytesIO()
        np.savez(buffer, rows=self.rows, series=self.series, months=self.months, values=self.values,
                 meta=np.array(json.dumps(meta)))
        return write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Table:
        """Read a table written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(source=meta["source"], columns=meta["columns"], rows=data["rows"], series=data["series"],
                       months=data["months"], values=data["values"], ids=meta["ids"], titles=meta["titles"],
                       had_bom=meta["had_bom"], problems=meta["problems"], counts=meta["counts"],
                       bad_series={int(k): v for k, v in meta["bad_series"].items()})
