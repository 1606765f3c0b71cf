"""Month arithmetic, in one place. A month is an integer index, ``year * 12 + month - 1`` (2000-01 is 24000), or
its text ``YYYY-MM``; every module that counts months uses these."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from pipeline.errors import ConfigError, excerpt


def month_text(index: int) -> str:
    """``YYYY-MM`` of a month index (``year * 12 + month - 1``)."""
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def calendar_break(before: int, after: int) -> str:
    """What is wrong between two months of a series sorted by month that should follow each other (``after`` is
    ``before`` again, or more than one month later): "duplicate month ..." or "missing month(s) ... before ..."."""
    if after == before:
        return f"duplicate month {month_text(after)}"
    start, end = before + 1, after - 1
    missing = (month_text(start) if start == end
               else f"{month_text(start)}..{month_text(end)} ({end - start + 1} months)")
    return f"missing month(s) {missing} before {month_text(after)}"


def index_of(year: int, month: int) -> int:
    """The month index of a year and a month (1..12): ``year * 12 + month - 1`` (element-wise on arrays too)."""
    return year * 12 + month - 1


def month_index(timestamp: pd.Timestamp) -> int:
    """The month index of a timestamp."""
    return index_of(timestamp.year, timestamp.month)


def parse_month(text: str) -> int:
    """The month index of ``YYYY-MM`` text (the inverse of :func:`month_text`)."""
    return month_index(pd.Timestamp(text))


def month_starts(first: int, count: int) -> pd.DatetimeIndex:
    """``count`` month starts from month index ``first`` (``year * 12 + month - 1``)."""
    return pd.PeriodIndex.from_ordinals(np.arange(first, first + count) - 1970 * 12, freq="M").to_timestamp()


def months_between(earlier: str, later: str) -> int:
    """Months from ``earlier`` to ``later`` (both ``YYYY-MM``): 1 from one month to the next."""
    return parse_month(later) - parse_month(earlier)


def current_month() -> int:
    """This month's index (UTC)."""
    return month_index(pd.Timestamp.now(tz="UTC"))


def as_of_month(as_of: str | None) -> int | None:
    """The month index of the first month left out by an as-of date (``YYYY-MM-DD``, or an ISO timestamp as
    Airflow gives it): only rows dated before it are kept (a month counts from its first day). None keeps all."""
    if as_of is None:
        return None
    try:
        moment = datetime.fromisoformat(str(as_of).strip())
    except ValueError:
        raise ConfigError(f"as-of date {excerpt(as_of)} is not a date (expected YYYY-MM-DD)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    start = datetime(moment.year, moment.month, 1)
    return index_of(moment.year, moment.month) + (1 if moment > start else 0)
