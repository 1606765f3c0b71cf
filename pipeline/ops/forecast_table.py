"""The published forecasts as a table of a real database, where planners and downstream jobs query them.

One row a series and forecast month of every published forecast: the experiment, the data month of the run that
published it, the series, the month, the forecast, its interval bounds (``lower_80``, ``upper_80``, ...: one pair a
published level), the model that forecast the series, the registered model version, the MLflow run id, the run's key
(the Airflow run's) and when it was published. Through SQLAlchemy: SQLite in the state folder by default, the
deployments' PostgreSQL server (``PIPELINE_FORECAST_DB_URL``).

A month is published in one transaction: its rows appear all at once or not at all; a re-run of the month replaces
its own rows (the key is experiment, data month, series, month: never a duplicate); earlier months' forecasts stay,
so "what did we forecast for June, and when" is one query::

    SELECT data_month, forecast, lower_80, upper_80, published_at FROM forecasts
    WHERE series = 'T1' AND month = '1961-06-01' ORDER BY data_month;
"""

from __future__ import annotations

import dataclasses
import io
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.errors import ConfigError, PipelineError, excerpt

if TYPE_CHECKING:
    import sqlalchemy as sa

logger = logging.getLogger(__name__)

TABLE = "forecasts"
BOUND = re.compile(r"(lower|upper)_(\d{1,2})")  # an interval bound's column: its side and level (percent)
CHUNK_ROWS = 20_000  # rows an INSERT statement writes
COPY_ROWS = 200_000  # rows a PostgreSQL COPY writes


@dataclass(frozen=True)
class Publication:
    """One month's published forecast: whose (experiment), of which data month, by which model version and run, how
    many rows. What publish announces (the forecast Asset's event carries it as JSON) and downstream jobs read."""

    experiment: str
    data_month: str  # YYYY-MM
    model_version: str
    run_id: str  # the month's MLflow run
    run_key: str  # the run's key (its work folder)
    rows: int = 0

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, value: Publication | Mapping[str, Any]) -> Publication:
        """From itself or its JSON (an Asset event's extra)."""
        if isinstance(value, Publication):
            return value
        names = [field.name for field in dataclasses.fields(cls) if field.name != "rows"]
        missing = [name for name in names if not value.get(name)]
        if missing:
            raise ConfigError(f"not a published forecast: {', '.join(missing)} missing")
        return cls(**{name: str(value[name]) for name in names}, rows=int(value.get("rows") or 0))


class ForecastStoreUnavailableError(PipelineError, RuntimeError):
    """The forecast database cannot be reached (retried: the server may be back)."""

    retryable = True


def shown(url: str) -> str:
    """The URL without its password (for logs and messages)."""
    import sqlalchemy as sa

    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "an invalid URL"


def _engine(url: str) -> sa.Engine:
    import sqlalchemy as sa

    try:
        address = sa.make_url(url)
        engine = sa.create_engine(address, connect_args={"timeout": 60} if address.drivername == "sqlite" else {})
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError) as exc:
        raise ConfigError(f"PIPELINE_FORECAST_DB_URL is not a database URL SQLAlchemy can open "
                          f"({excerpt(str(exc))})") from exc
    if address.drivername == "sqlite" and address.database not in (None, "", ":memory:"):
        Path(address.database).parent.mkdir(parents=True, exist_ok=True)  # the state folder's, on a first run
    return engine


def _schema(bounds: list[str]) -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
        TABLE, sa.MetaData(),
        sa.Column("experiment", sa.String(100), nullable=False),
        sa.Column("data_month", sa.Date, nullable=False),
        sa.Column("series", sa.Text, nullable=False),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("forecast", sa.Float),
        *(sa.Column(name, sa.Float) for name in bounds),
        sa.Column("model", sa.String(50), nullable=False),
        sa.Column("model_version", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("run_key", sa.String(250), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("experiment", "data_month", "series", "month", name=f"{TABLE}_pk"),
        sa.Index(f"{TABLE}_by_month", "experiment", "month", "series"),
    )


def bound_columns(columns: list[str]) -> list[str]:
    """The interval bounds among ``columns``, by level, lower first."""
    found = [(int(m[2]), m[1] != "lower", name) for name in columns if (m := BOUND.fullmatch(name))]
    return [name for *_, name in sorted(found)]


def _ensure(engine: sa.Engine, bounds: list[str]) -> sa.Table:
    """The table, created when missing, with a column for every bound (added to an older table: nullable)."""
    import sqlalchemy as sa

    schema = _schema(bounds)
    try:
        schema.metadata.create_all(engine)
    except sa.exc.DBAPIError:  # another publish created it at the same moment
        if not sa.inspect(engine).has_table(TABLE):
            raise
    present = {column["name"] for column in sa.inspect(engine).get_columns(TABLE)}
    for name in (n for n in bounds if n not in present):
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"ALTER TABLE {TABLE} ADD COLUMN {name} FLOAT"))  # name: BOUND's characters
        except sa.exc.DBAPIError:
            if name not in {c["name"] for c in sa.inspect(engine).get_columns(TABLE)}:
                raise
    return schema


def first_day(month: str) -> date:
    """``YYYY-MM`` -> the month's first day (the table's months are dates: SQL compares and truncates them)."""
    return date(int(month[:4]), int(month[5:7]), 1)


def publish(url: str, table: pd.DataFrame, publication: Publication) -> Publication:
    """Replace the publication's experiment's forecast of its data month with ``table`` (series, month, forecast,
    bounds, model) in one transaction. Returns the publication with the rows written."""
    import sqlalchemy as sa

    bounds = bound_columns(list(table.columns))
    month = first_day(publication.data_month)
    frame = table[["series", "month", "forecast", *bounds, "model"]].assign(
        experiment=publication.experiment, data_month=month, series=table["series"].astype(str),
        month=[first_day(m) for m in table["month"].astype(str)], model_version=publication.model_version,
        run_id=publication.run_id, run_key=publication.run_key, published_at=datetime.now(UTC))
    engine = _engine(url)
    try:
        schema = _ensure(engine, bounds)
        with engine.begin() as conn:
            conn.execute(sa.delete(schema).where(schema.c.experiment == publication.experiment,
                                                 schema.c.data_month == month))
            _insert(conn, schema, frame)
    except sa.exc.OperationalError as exc:
        raise ForecastStoreUnavailableError(f"the forecast database {shown(url)} is unavailable "
                                            f"({excerpt(str(exc.orig))}); nothing was written there") from exc
    finally:
        engine.dispose()
    logger.info("published %d rows of %s's forecast of %s to %s (table %s)", len(frame), publication.experiment,
                publication.data_month, shown(url), TABLE)
    return dataclasses.replace(publication, rows=len(frame))


def _insert(conn: sa.Connection, schema: sa.Table, frame: pd.DataFrame) -> None:
    """The rows, inside the caller's transaction: PostgreSQL's COPY through psycopg2 (ten times the rows a second of
    batched INSERTs), else batched INSERTs (NaN, no interval, made SQL's NULL a chunk at a time)."""
    import sqlalchemy as sa

    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2":
        copy = f"COPY {TABLE} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)"
        dbapi = conn.dialect.loaded_dbapi
        try:
            with conn.connection.dbapi_connection.cursor() as cursor:  # type: ignore[union-attr]
                for start in range(0, len(frame), COPY_ROWS):
                    text = frame.iloc[start:start + COPY_ROWS].to_csv(index=False, header=False, na_rep="")
                    cursor.copy_expert(copy, io.StringIO(text))  # an empty field: NULL
        except dbapi.Error as exc:  # as SQLAlchemy raises the driver's errors (IntegrityError, OperationalError)
            raise sa.exc.DBAPIError.instance(copy, None, exc, dbapi.Error) from exc
        return
    for start in range(0, len(frame), CHUNK_ROWS):
        chunk = frame.iloc[start:start + CHUNK_ROWS]
        conn.execute(sa.insert(schema), chunk.astype(object).where(chunk.notna(), None).to_dict("records"))


def read(url: str, experiment: str, data_month: str | None = None, arrived_by: str | None = None) -> pd.DataFrame:
    """The experiment's published rows, by data month, series and month (months as ``YYYY-MM`` text, as in the
    forecast files): one data month's, or those of earlier data months whose months have arrived by ``arrived_by``
    (what can be compared with actuals then), or all."""
    import sqlalchemy as sa

    engine = _engine(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return pd.DataFrame(columns=[c.name for c in _schema([]).columns])
        schema = sa.Table(TABLE, sa.MetaData(), autoload_with=engine)
        query = sa.select(schema).where(schema.c.experiment == experiment)
        if data_month is not None:
            query = query.where(schema.c.data_month == first_day(data_month))
        if arrived_by is not None:
            query = query.where(schema.c.data_month < first_day(arrived_by), schema.c.month <= first_day(arrived_by))
        with engine.connect() as conn:
            frame = pd.read_sql(query.order_by(schema.c.data_month, schema.c.series, schema.c.month), conn)
    finally:
        engine.dispose()
    for column in ("data_month", "month"):
        frame[column] = pd.to_datetime(frame[column]).dt.strftime("%Y-%m")
    return frame


def latest(url: str, experiment: str) -> Publication | None:
    """The experiment's latest published month (None before the first): its newest data month through the key's
    index, then that month's rows."""
    import sqlalchemy as sa

    engine = _engine(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return None
        schema = _schema([])
        with engine.connect() as conn:
            month = conn.execute(sa.select(sa.func.max(schema.c.data_month))
                                 .where(schema.c.experiment == experiment)).scalar()
            if month is None:
                return None
            mine = (schema.c.experiment == experiment) & (schema.c.data_month == month)
            row = conn.execute(sa.select(schema.c.model_version, schema.c.run_id, schema.c.run_key).where(mine)
                               .limit(1)).one()
            rows = conn.execute(sa.select(sa.func.count()).select_from(schema).where(mine)).scalar_one()
    finally:
        engine.dispose()
    month = month if isinstance(month, date) else date.fromisoformat(str(month)[:10])
    return Publication(experiment, month.strftime("%Y-%m"), str(row[0]), str(row[1]), str(row[2]), int(rows))
