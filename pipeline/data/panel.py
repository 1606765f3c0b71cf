"""A panel of monthly series (one series is a panel of one), and its assignment to shards.

Each series is a contiguous run of months (validation guarantees it): it is stored as its first month and its
values, all series back to back in one array (``offsets`` delimit them), so a panel of any size is three arrays.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import domains
from pipeline.errors import ConfigError
from pipeline.io import sha256_arrays, write_bytes
from pipeline.months import calendar_break, index_of, month_index, month_starts, month_text


@dataclass
class Panel:
    """Monthly series: ``ids``/``titles``, the first month of each (``starts``), their values back to back."""

    ids: list[str]
    titles: list[str]
    starts: np.ndarray
    offsets: np.ndarray
    values: np.ndarray
    source: str = ""
    _positions: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.ids)

    def values_of(self, i: int) -> np.ndarray:
        """The values of series ``i`` (a view)."""
        return self.values[self.offsets[i]:self.offsets[i + 1]]

    def length(self, i: int) -> int:
        """Months of series ``i``."""
        return int(self.offsets[i + 1] - self.offsets[i])

    def end(self, i: int) -> int:
        """Month index after the last month of series ``i``."""
        return int(self.starts[i]) + self.length(i)

    @property
    def last_month(self) -> int:
        """The latest month of any series (month index)."""
        return max(self.end(i) for i in range(len(self))) - 1

    def position(self, series_id: str) -> int:
        """The position of a series by its id."""
        if not self._positions:
            self._positions.update({sid: i for i, sid in enumerate(self.ids)})
        return self._positions[series_id]

    def in_order(self, table: pd.DataFrame) -> pd.DataFrame:
        """The rows of a long table of this panel's series (a ``series`` column) in the panel's order of series,
        each series' rows in their own order (a table put together from parts)."""
        return table.iloc[np.argsort([self.position(s) for s in table["series"]], kind="stable")]

    def series(self, i: int) -> pd.Series:
        """Series ``i`` as a pandas Series indexed by month start."""
        values = self.values_of(i)
        return pd.Series(values, index=pd.DatetimeIndex(month_starts(int(self.starts[i]), len(values)),
                                                        name="month"), name=self.ids[i])

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self.values_of(i) for i in range(len(self)))

    def subset(self, positions: Sequence[int]) -> Panel:
        """The series at ``positions``, in that order."""
        return self._with([int(i) for i in positions], [self.values_of(i) for i in positions])

    @property
    def ends(self) -> np.ndarray:
        """Month index after the last month of every series."""
        return self.starts.astype(np.int64) + np.diff(self.offsets)

    def cut(self, end: int | np.ndarray) -> Panel:
        """Every series up to (not including) month index ``end`` (one for all, or one per series); series with no
        month left are dropped."""
        ends = np.broadcast_to(np.asarray(end, dtype=np.int64), (len(self),))
        keep = [i for i in range(len(self)) if self.starts[i] < ends[i]]
        return self._with(keep, [self.values_of(i)[: int(ends[i]) - int(self.starts[i])] for i in keep])

    def _with(self, positions: list[int], parts: list[np.ndarray]) -> Panel:
        """The series at ``positions`` (ids, titles, first months) holding the values ``parts``."""
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        return Panel([self.ids[i] for i in positions], [self.titles[i] for i in positions],
                     self.starts[positions].astype(np.int32), np.concatenate([[0], np.cumsum(lengths)]),
                     np.concatenate(parts) if parts else np.zeros(0), self.source)

    def window(self, start: int | np.ndarray, count: int) -> tuple[list[int], np.ndarray]:
        """The positions of series holding the ``count`` months from month index ``start`` (one for all, or one per
        series), and those values."""
        starts = np.broadcast_to(np.asarray(start, dtype=np.int64), (len(self),))
        rows, out = [], []
        for i in range(len(self)):
            first = int(starts[i]) - int(self.starts[i])
            if first >= 0 and first + count <= self.length(i):
                rows.append(i)
                out.append(self.values_of(i)[first:first + count])
        return rows, (np.stack(out) if out else np.zeros((0, count)))

    @property
    def sha256(self) -> str:
        """Digest of ids, first months and values."""
        return sha256_arrays(self.ids, (self.starts.astype("<i4"), self.offsets.astype("<i8"),
                                        self.values.astype("<f8")))

    def to_frame(self) -> pd.DataFrame:
        """Long table: series, month (``YYYY-MM``), value."""
        ids = np.repeat(np.array(self.ids, dtype=object), np.diff(self.offsets))
        months = np.concatenate([np.arange(self.starts[i], self.end(i)) for i in range(len(self))]) if len(self) \
            else np.zeros(0, dtype=int)
        return pd.DataFrame({"series": ids, "month": [month_text(int(m)) for m in months],
                             "value": self.values})

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, source: str = "", domain: str = domains.POSITIVE) -> Panel:
        """A panel from a long table (series, month, value), e.g. a pyfunc input. Months parse as ``YYYY-MM`` (or
        any date); each series must be contiguous once sorted, with finite values in ``domain`` (a model's: what
        it was trained on)."""
        missing = {"series", "month", "value"} - set(frame.columns)
        if missing:
            raise ConfigError(f"history needs the columns series, month, value; missing {sorted(missing)}")
        months = pd.to_datetime(frame["month"].astype(str), format="mixed")
        data = pd.DataFrame({"series": frame["series"].astype(str).to_numpy(),
                             "month": index_of(months.dt.year, months.dt.month),
                             "value": pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype=float)})
        data = data.sort_values(["series", "month"], kind="stable")
        ids, starts, lengths = [], [], []
        for series_id, group in data.groupby("series", sort=False):
            _check_consecutive(series_id, group["month"].to_numpy())
            ids.append(str(series_id))
            starts.append(int(group["month"].iloc[0]))
            lengths.append(len(group))
        values = data["value"].to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values) | domains.outside(values, domain))
        if len(bad):  # what training quarantines, or what the model was not trained on
            row = data.iloc[bad[0]]
            raise _refused(row["series"], int(row["month"]), frame["value"].loc[data.index[bad[0]]], len(bad), domain)
        return cls(ids, list(ids), np.array(starts, dtype=np.int32),
                   np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), values, source)

    def check_domain(self, domain: str) -> None:
        """Refuse a panel with a value outside ``domain`` (a model's: what it was trained on), naming the first
        series and month, as :meth:`from_frame` does."""
        bad = np.flatnonzero(domains.outside(self.values, domain))
        if len(bad):
            i = int(np.searchsorted(self.offsets, bad[0], side="right")) - 1
            month = int(self.starts[i]) + int(bad[0] - self.offsets[i])
            raise _refused(self.ids[i], month, f"{self.values[bad[0]]:g}", len(bad), domain)

    def save(self, path: str | Path) -> Path:
        """Write atomically as ``.npz`` (typed arrays and JSON; no pickled objects)."""
        buffer = io.BytesIO()
        meta = {"ids": self.ids, "titles": self.titles, "source": self.source}
        np.savez(buffer, starts=self.starts, offsets=self.offsets, values=self.values, meta=np.array(json.dumps(meta)))
        return write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Panel:
        """Read a panel written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return cls(meta["ids"], meta["titles"], data["starts"], data["offsets"], data["values"], meta["source"])


def _check_consecutive(series_id: object, months: np.ndarray) -> None:
    """Refuse a series' sorted month indexes that repeat or skip a month, naming the first such month."""
    wrong = np.flatnonzero(np.diff(months) != 1)
    if len(wrong):
        first = calendar_break(int(months[wrong[0]]), int(months[wrong[0] + 1]))
        raise ConfigError(f"history of series {series_id!r}: {first} (months must be consecutive, without duplicates "
                          f"or gaps; {len(wrong)} such place(s))")


def _refused(series_id: str, month: int, value: object, count: int, domain: str) -> ConfigError:
    """The error of a history value that is not a finite number of ``domain``."""
    rule = {domains.POSITIVE: "a positive number", domains.NONNEGATIVE: "a number of at least 0"}.get(
        domain, "a finite number")
    return ConfigError(f"history of series {series_id!r}, month {month_text(month)}: value {str(value)[:40]!r} is not "
                       f"{rule} ({count} such value(s))")


def single(series: pd.Series, series_id: str = "series") -> Panel:
    """A panel of one monthly series (indexed by month starts)."""
    values = series.to_numpy(dtype=float)
    return Panel([series_id], [series_id], np.array([month_index(series.index[0])], dtype=np.int32),
                 np.array([0, len(values)], dtype=np.int64), values)


def series_hash(series_id: str) -> str:
    """A stable hash of a series id (the same on every machine and run)."""
    return hashlib.sha256(series_id.encode("utf-8")).hexdigest()


def shards(ids: Sequence[str], shard_size: int) -> list[list[int]]:
    """Positions of the series of each shard: series ordered by :func:`series_hash`, cut into
    ``ceil(n / shard_size)`` runs of nearly equal size (at most ``shard_size`` each)."""
    order = sorted(range(len(ids)), key=lambda i: (series_hash(ids[i]), ids[i]))
    count = max(1, math.ceil(len(ids) / shard_size))
    return [sorted(int(i) for i in part) for part in np.array_split(np.array(order, dtype=int), count)]


def shard_bounds(ids: Sequence[str], parts: list[list[int]]) -> list[str]:
    """The smallest hash of each shard but the first: where a series never seen falls (:func:`shard_for`)."""
    return [min(series_hash(ids[i]) for i in part) for part in parts[1:]]


def shard_for(series_id: str, bounds: Sequence[str]) -> int:
    """The shard a series belongs to, from the bounds of :func:`shard_bounds` (known or new series alike)."""
    import bisect

    return bisect.bisect_right(list(bounds), series_hash(series_id))
