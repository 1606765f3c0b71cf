import pandas as pd
import pytest

from pipeline.errors import ConfigError
from pipeline.months import (
    as_of_month,
    calendar_break,
    month_index,
    month_starts,
    month_text,
    months_between,
    parse_month,
)


def test_a_month_is_an_index_and_its_text():
    assert month_text(1949 * 12) == "1949-01" and month_text(1960 * 12 + 11) == "1960-12"
    assert parse_month("1960-12") == 1960 * 12 + 11 == month_index(pd.Timestamp("1960-12-17"))
    assert all(parse_month(month_text(m)) == m for m in range(1678 * 12, 2100 * 12, 37))


def test_month_starts_and_the_months_between():
    assert list(month_starts(parse_month("1999-11"), 3).strftime("%Y-%m")) == ["1999-11", "1999-12", "2000-01"]
    assert months_between("1960-06", "1960-12") == 6 and months_between("1959-12", "1960-01") == 1
    assert months_between("1960-12", "1960-12") == 0


@pytest.mark.parametrize("as_of, first_left_out", [
    ("1961-01-01", "1961-01"),  # a month counts from its first day
    ("1961-01-15", "1961-02"),  # mid-January: January is in
    ("1961-01-01T00:00:00+00:00", "1961-01"),  # as Airflow gives it
    ("1960-12-31T23:30:00-01:00", "1961-02"),  # 00:30 UTC on January 1st: rows dated 1961-01 are known
])
def test_the_as_of_date_leaves_out_its_month_and_later(as_of, first_left_out):
    assert month_text(as_of_month(as_of)) == first_left_out


def test_no_as_of_keeps_everything_and_a_bad_one_is_refused():
    assert as_of_month(None) is None
    with pytest.raises(ConfigError, match="as-of date 'yesterday' is not a date"):
        as_of_month("yesterday")


def test_a_break_in_the_calendar_names_the_months():
    march = parse_month("1949-03")
    assert calendar_break(march, march) == "duplicate month 1949-03"
    assert calendar_break(march, march + 2) == "missing month(s) 1949-04 before 1949-05"
    assert calendar_break(march, march + 12) == "missing month(s) 1949-04..1950-02 (11 months) before 1950-03"
