"""A downstream job of the published forecasts (the ``lstm_forecast_report`` DAG, scheduled on the forecast Asset):
when a month is published, how the earlier months' forecasts did against the months that have arrived since."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipeline import settings
from pipeline.config import load_config
from pipeline.data.panel import Panel
from pipeline.errors import NotFoundError
from pipeline.io import write_text
from pipeline.ops import forecast_table
from pipeline.ops.actuals import versus_actuals
from pipeline.ops.forecast_table import Publication
from pipeline.workspace import RunPaths, forecast_reports

logger = logging.getLogger(__name__)


def forecast_report(announced: Publication | Mapping[str, Any] | None = None) -> str | None:
    """The forecast-versus-actual report of the month ``announced`` (the forecast Asset event's extra; empty: the
    configured experiment's latest published month): every forecast published before it, on the months that have
    arrived by it, against that run's validated data, by data month and lead. Written as CSV and markdown in the
    state folder (``reports/<experiment>/<data month>``) and logged. Returns the CSV (None: nothing to compare)."""
    url = settings.forecast_db_url()
    publication = Publication.of(announced) if announced else forecast_table.latest(
        url, load_config(os.environ.get("PIPELINE_CONFIG") or None).experiment_name)
    if publication is None:
        logger.warning("nothing published yet: no report")
        return None
    panel = RunPaths.of(publication.run_key).panel
    if not panel.is_file():
        raise NotFoundError(f"the validated data of run {publication.run_key} ({panel}) is gone: re-run its month "
                            f"({publication.data_month}) to report on it")
    forecasts = forecast_table.read(url, publication.experiment, arrived_by=publication.data_month)
    actuals = Panel.load(panel).to_frame()
    report = versus_actuals(forecasts, actuals)
    folder = forecast_reports(publication.experiment)
    csv = write_text(folder / f"{publication.data_month}.csv", report.to_csv(index=False, float_format="%.4g"))
    text = report_markdown(publication, versus_actuals(forecasts, actuals, by=["data_month"]))
    write_text(folder / f"{publication.data_month}.md", text)
    logger.info("forecast versus actual\n%s", text)
    return str(csv)


def report_markdown(publication: Publication, by_month: pd.DataFrame) -> str:
    """A table of each earlier data month's forecasts over the leads that have arrived."""
    title = f"## {publication.experiment}: published forecasts against actuals to {publication.data_month}"
    if by_month.empty:
        return f"{title}\n\nNo earlier forecast has a month that has arrived yet.\n"
    coverage = [c for c in by_month.columns if c.startswith("coverage_")]
    lines = [title, "", "| forecast of | leads | series-months | WAPE % | MAPE % | bias % | "
             + "".join(f"{c.removeprefix('coverage_')} % interval coverage | " for c in coverage),
             "|---" * (6 + len(coverage)) + "|"]
    lines += [f"| {r.data_month} | {r.leads} | {r.compared} | {r.wape:.1f} | {r.mape:.1f} | {r.bias:+.1f} | "
              + "".join(f"{100 * getattr(r, c):.0f} | " for c in coverage) for r in by_month.itertuples()]
    return "\n".join(lines) + "\n"
