"""The forecast table, on SQLite and on a real PostgreSQL server: a month's rows all at once or not at all, a re-run
replacing its own rows, earlier months kept, and read back with a plain SQL client."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline.errors import ConfigError
from pipeline.ops import forecast_table as ft
from tests.postgres import postgres_server


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'forecasts.db'}"
    url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {ft.TABLE}"))
    engine.dispose()
    return url


def forecast(first: str, series=("A", "B"), months=3, shift=0.0, levels=(80, 95)) -> pd.DataFrame:
    """A published forecast table as publish has it: series, month, forecast, bounds, model, model_version."""
    rows = []
    for k, sid in enumerate(series):
        for step, month in enumerate(pd.period_range(first, periods=months, freq="M").strftime("%Y-%m")):
            value = 100.0 * (k + 1) + step + shift
            row = {"series": sid, "month": month, "forecast": value, "model": "lstm" if k == 0 else "theta"}
            for level in levels:
                row |= {f"lower_{level}": value - level / 10, f"upper_{level}": value + level / 10}
            rows.append(row)
    return pd.DataFrame(rows).assign(model_version="3")


def pub(experiment: str, data_month: str, version: str, run_id: str) -> ft.Publication:
    return ft.Publication(experiment, data_month, version, run_id, f"dag/{run_id}")


def sql(url: str, query: str, *args) -> list[tuple]:
    """A query through the database's own client (sqlite3, psycopg2), not through the pipeline's code."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            return conn.execute(query.replace("%s", "?"), args).fetchall()
    import psycopg2

    address = sa.make_url(url)
    with psycopg2.connect(host=address.host, port=address.port, user=address.username,
                          dbname=address.database) as conn, conn.cursor() as cursor:
        cursor.execute(query, args)
        return cursor.fetchall()


def test_months_accumulate_and_a_rerun_replaces_its_own_rows(url):
    assert ft.publish(url, forecast("1961-01"), pub("exp", "1960-12", "3", "run-dec")).rows == 6
    ft.publish(url, forecast("1961-02"), pub("exp", "1961-01", "3", "run-jan"))
    ft.publish(url, forecast("1961-02", shift=5.0), pub("other", "1961-01", "1", "run-other"))  # another experiment
    ft.publish(url, forecast("1961-02", shift=10.0).assign(model_version="4"), pub("exp", "1961-01", "4", "run-jan-2"))

    # what did we forecast for March 1961, and when: one query, one row a data month
    rows = sql(url, f"SELECT data_month, forecast, lower_80, upper_95, model_version, run_id FROM {ft.TABLE} "
                    "WHERE experiment = %s AND series = %s AND month = %s ORDER BY data_month",
               "exp", "A", "1961-03-01")
    assert [(str(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        ("1960-12-01", 102.0, 94.0, 111.5, "3", "run-dec"),
        ("1961-01-01", 111.0, 103.0, 120.5, "4", "run-jan-2")]  # the re-run's rows, not the first run's
    counts = sql(url, f"SELECT experiment, data_month, count(*) FROM {ft.TABLE} GROUP BY experiment, data_month "
                      "ORDER BY experiment, data_month")
    assert [(e, str(m), n) for e, m, n in counts] == [("exp", "1960-12-01", 6), ("exp", "1961-01-01", 6),
                                                      ("other", "1961-01-01", 6)]
    back = ft.read(url, "exp", "1961-01")
    assert list(back["month"].unique()) == ["1961-02", "1961-03", "1961-04"]
    assert back["published_at"].notna().all() and set(back["run_id"]) == {"run-jan-2"}
    pd.testing.assert_frame_equal(
        back[["series", "month", "forecast", "lower_80", "upper_80", "lower_95", "upper_95", "model"]],
        forecast("1961-02", shift=10.0).drop(columns="model_version")
        [["series", "month", "forecast", "lower_80", "upper_80", "lower_95", "upper_95", "model"]],
        check_dtype=False)


def test_what_has_arrived_by_a_month_and_the_latest_publication(url):
    assert ft.latest(url, "exp") is None and ft.read(url, "exp").empty
    ft.publish(url, forecast("1961-01"), pub("exp", "1960-12", "3", "run-dec"))
    ft.publish(url, forecast("1961-02"), pub("exp", "1961-01", "4", "run-jan"))
    ft.publish(url, forecast("1961-03"), pub("exp", "1961-02", "4", "run-feb"))
    arrived = ft.read(url, "exp", arrived_by="1961-02")  # earlier data months, months up to February
    assert sorted(set(zip(arrived["data_month"], arrived["month"], strict=True))) == [
        ("1960-12", "1961-01"), ("1960-12", "1961-02"), ("1961-01", "1961-02")]
    assert ft.latest(url, "exp") == ft.Publication("exp", "1961-02", "4", "run-feb", "dag/run-feb", 6)
    assert ft.Publication.of(ft.latest(url, "exp").to_json()) == ft.latest(url, "exp")
    with pytest.raises(ConfigError, match="data_month, model_version missing"):
        ft.Publication.of({"experiment": "exp", "run_id": "r", "run_key": "k"})


def test_a_month_is_written_all_at_once_or_not_at_all(url, monkeypatch):
    ft.publish(url, forecast("1961-02"), pub("exp", "1961-01", "3", "run-1"))
    broken = pd.concat([forecast("1961-02", shift=7.0), forecast("1961-02").tail(1)])  # a duplicate last row
    monkeypatch.setattr(ft, "CHUNK_ROWS", 2)  # the first chunks are inserted before the duplicate fails
    with pytest.raises(sa.exc.IntegrityError):
        ft.publish(url, broken, pub("exp", "1961-01", "4", "run-2"))
    rows = sql(url, f"SELECT run_id, count(*) FROM {ft.TABLE} GROUP BY run_id")
    assert rows == [("run-1", 6)]  # the failed publish deleted and wrote nothing


def test_no_interval_is_null_and_a_new_level_adds_its_columns(url):
    plain = forecast("1961-01", levels=())
    plain.loc[0, "forecast"] = np.nan
    ft.publish(url, plain, pub("exp", "1960-12", "1", "run-1"))
    ft.publish(url, forecast("1961-02", levels=(90,)), pub("exp", "1961-01", "2", "run-2"))  # an older table
    rows = sql(url, f"SELECT data_month, forecast, lower_90, upper_90 FROM {ft.TABLE} WHERE series = 'A' "
                    "ORDER BY data_month, month LIMIT 4")
    assert [r[1:] for r in rows] == [(None, None, None), (101.0, None, None), (102.0, None, None),
                                     (100.0, 91.0, 109.0)]


def test_an_unreachable_server_is_retried_and_its_password_never_shown():
    from tests.pipeline.ops.test_faults import free_port

    url = f"postgresql+psycopg2://planner:s3cret-pass@127.0.0.1:{free_port()}/forecasts"
    with pytest.raises(ft.ForecastStoreUnavailableError) as caught:
        ft.publish(url, forecast("1961-01"), pub("exp", "1960-12", "1", "run"))
    assert caught.value.retryable and "s3cret-pass" not in str(caught.value) and "planner:***@" in str(caught.value)


def test_a_url_that_is_not_one_is_a_config_error():
    with pytest.raises(ConfigError, match="PIPELINE_FORECAST_DB_URL"):
        ft.publish("not a url", forecast("1961-01"), pub("exp", "1960-12", "1", "run"))
