"""Command line: ``python -m pipeline run|validate|forecast|backtest|backfill|rollback|serve|sign-model|settings`` (no
Airflow needed)."""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.config import FIELDS, SETTINGS, TRIGGER_KEYS, Config, coerce, load_config, settings_table
from pipeline.errors import ConfigError, DataValidationError, NotFoundError, PipelineError, excerpt

logger = logging.getLogger("pipeline")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per config field (``--csv`` is short for ``--csv-path``); unset flags keep the config."""
    parser.add_argument("--config", default=os.environ.get("PIPELINE_CONFIG") or None,
                        help="YAML file of config values (beats the preset, loses to flags; default $PIPELINE_CONFIG)")
    for name, field in FIELDS.items():
        names = [f"--{name.replace('_', '-')}"] + (["--csv"] if name == "csv_path" else [])
        parser.add_argument(*names, dest=name, default=None, metavar=str(field.type).upper(),
                            help=f"{SETTINGS[name].doc} (default: {field.default!r})".replace("%", "%%"))


def boolean(value: str) -> bool:
    return coerce("baseline_gate", value)  # any bool setting's parsing: true/false/yes/no/1/0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in FIELDS if getattr(args, name) is not None}


def _validated_panel(cfg: Config, as_of: str | None) -> tuple[Any, dict[str, Any]]:
    """Read and validate the configured CSV in memory; returns (panel, report)."""
    from pipeline import settings
    from pipeline.data import validate

    csv_path = settings.resolve_data_path(cfg.csv_path, cfg.data_dir, cfg.allow_any_csv_path)
    return validate.check_csv(csv_path, cfg, as_of)


def cmd_run(args: argparse.Namespace) -> int:
    """Run every step once, as one DAG run would."""
    from pipeline import steps

    run_key = args.run_key or f"cli/{datetime.now(UTC):%Y%m%dT%H%M%S}"
    result = steps.run_all(run_key, args.as_of, _overrides(args), args.config, {"trigger": "cli"})
    paths = result.paths
    print(json.dumps({"run_key": run_key, "mlflow_run_id": result.mlflow_run_id, "data_month": result.data_month,
                      "model_version": result.model_version, "promoted": result.promoted, "metrics": result.metrics,
                      "decision": str(paths.decision),
                      "published": str(paths.forecast) if paths.forecast.exists() else None,
                      "work_dir": str(paths.root)}, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Print the validation findings; non-zero exit when the data is refused."""
    cfg = load_config(args.config, _overrides(args))
    try:
        _, report = _validated_panel(cfg, args.as_of)
    except DataValidationError as exc:
        report = {"file": exc.file, "status": "failed",
                  "errors": [{"row": exc.row, "column": exc.column, "message": exc.message}]}
    print(json.dumps(report, indent=2, default=str))
    panel = report.get("series", {}).get("in", 1) > 1
    for error in report["errors"]:
        where = ", ".join(p for p in (report["file"], panel and error.get("series") and f"series {error['series']}",
                                      error["row"] and f"row {error['row']}",
                                      error["column"] and f"column '{error['column']}'") if p)
        print(f"ERROR {where}: {error['message']}", file=sys.stderr)
    if report["status"] == "passed":
        for key, label in (("quarantine", "QUARANTINED"), ("inactive", "INACTIVE"), ("short", "TOO SHORT")):
            for item in report.get(key, []):
                print(f"{label} series {item['series']}: {item['reason']}", file=sys.stderr)
        for item in report.get("anomalies", []):
            print(f"LOOK AT {report['file']}, {item['message']}", file=sys.stderr)
        domain = report["value_domain"]
        kinds = ", ".join(f"{count} {kind}" for kind, count in domain["series"].items() if count)  # narrowest first
        print(f"values: {domain['domain']} (value_domain {domain['setting']}; series: {kinds})", file=sys.stderr)
    return 1 if report["status"] == "failed" else 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """Rolling-origin backtest of the configuration and the baselines on any monthly CSV (one series or a panel)."""
    from pipeline.data import validate
    from pipeline.scoring import fold_cache

    cfg = load_config(args.config, _overrides(args))
    panel, report = _validated_panel(cfg, args.as_of)
    validate.raise_for_report(report)
    if args.tune:
        from pipeline.scoring import tuning

        summary = tuning.tuned_backtest(panel, cfg, cfg.tune_trials)
    else:
        summary = fold_cache.backtest(panel, cfg, cfg.stats_baselines)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{summary['series']} series, {summary['folds']} folds; means over series-folds")
    print(f"{'fold':<6}{'train to':<10}{'model':<16}{'MASE':>8}{'median':>8}{'MAPE %':>8}{'sMAPE %':>9}{'RMSE':>12}")
    rows: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        (str(f["fold"]), f["train_end"], {m: f[m] for m in summary["mean"]}, {}) for f in summary["per_fold"]]
    rows.append(("mean", "", summary["mean"], summary["median_mase"]))
    for fold, train_end, scores, median in rows:
        for model, m in scores.items():
            middle = f"{median[model]:>8.3f}" if model in median else f"{'':>8}"
            print(f"{fold:<6}{train_end:<10}{model:<16}{m['mase']:>8.3f}{middle}{m['mape']:>8.2f}{m['smape']:>9.2f}"
                  f"{m['rmse']:>12.2f}")
    for key, value in summary.items():
        if key.startswith("share_beats_"):
            print(f"LSTM better than {key.removeprefix('share_beats_')} on {value:.0%} of series-folds")
    if len(panel) > 1:
        print("series served by (best candidate on their folds): "
              + ", ".join(f"{model} {n}" for model, n in summary["served"].items()))
    for fold in summary.get("tuned", []):
        print(f"fold {fold['fold']}: tuned on the months to {fold['train_end']} ({cfg.tune_trials} trials), chose "
              f"trial {fold['trial']}: " + ", ".join(f"{k}={v}" for k, v in fold["params"].items()))
    return 0


def cmd_forecast(args: argparse.Namespace) -> int:
    """Print the champion's forecast of the months after the last data month, for every series."""
    from pipeline.data import validate
    from pipeline.ops import pyfunc, registry, tracking

    cfg = load_config(args.config, _overrides(args))
    panel, report = _validated_panel(cfg, args.as_of)
    validate.raise_for_report(report)
    client = tracking.existing_store()
    version = registry.champion_version(client, cfg.registered_model_name)
    table = pyfunc.load_version(cfg.registered_model_name, version).forecast(panel, args.months)
    bands = [c for c in table.columns if c.startswith(("lower_", "upper_"))]
    width = max(6, *(len(str(s)) for s in table["series"]))
    print(f"{'series':<{width}}  {'month':<8} {'forecast':>12}" + "".join(f" {c:>12}" for c in bands)
          + f"  model (champion v{version})")
    for row in table.to_dict(orient="records"):
        print(f"{row['series']:<{width}}  {row['month']:<8} {row['forecast']:>12.1f}"
              + "".join(f" {row[c]:>12.1f}" if math.isfinite(row[c]) else f" {'n/a':>12}" for c in bands)
              + f"  {row['model']}")  # n/a: too few backtest residuals for that level
    return 0


def backfill_months(start: str, end: str) -> list[tuple[str, str]]:
    """(data month, as-of date) for every month from ``start`` to ``end`` (YYYY-MM), inclusive."""
    import pandas as pd

    for flag, value in (("--from", start), ("--to", end)):
        if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", str(value)):
            raise ConfigError(f"{flag} {excerpt(value)} is not a month (expected YYYY-MM)")
    months = pd.period_range(start, end, freq="M")
    if len(months) == 0:
        raise ConfigError(f"--from {start} is after --to {end}")
    return [(str(m), (m + 1).to_timestamp().strftime("%Y-%m-%d")) for m in months]


def cmd_backfill(args: argparse.Namespace) -> int:
    """Retrain month by month with the data known at each month's end (in-process, or as Airflow DAG runs)."""
    import subprocess

    from pipeline import steps

    cfg = load_config(args.config, _overrides(args))  # fails early on a bad flag
    overrides = {key: getattr(cfg, key) for key in _overrides(args)}  # typed, as DAG params expect
    months = backfill_months(args.start, args.end)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        env = _airflow_env(args.config, overrides, Path(scratch)) if args.airflow else None
        conf = json.dumps({k: v for k, v in overrides.items() if k in TRIGGER_KEYS})
        for month, as_of in months:
            logger.info("backfill %s (data before %s)", month, as_of)
            if env is not None:
                command = ["airflow", "dags", "test", "lstm_monthly_retraining", as_of, "--conf", conf]
                done = subprocess.run(command, check=False, env=env)
                rows.append({"month": month, "as_of": as_of, "airflow_exit_code": done.returncode})
                if done.returncode:
                    break
                continue
            result = steps.run_all(f"backfill/{month}", as_of, overrides, args.config, {"trigger": "backfill"})
            decision = result.decision
            rows.append({"month": result.data_month, "version": result.model_version, "promoted": result.promoted,
                         "backtest_mase": round(decision["candidate"]["backtest_mase"], 4),
                         "reason": decision["reason"]})
    print(json.dumps(rows, indent=2))
    return 0 if all(r.get("airflow_exit_code", 0) == 0 for r in rows) else 1


def _airflow_env(config: str | None, overrides: dict[str, Any], scratch: Path) -> dict[str, str]:
    """The environment of the DAG runs: the operator's flags (paths, names, the gate) join the config file in a
    deployment config (PIPELINE_CONFIG), since a DAG trigger may not set them."""
    import yaml

    operator = {k: v for k, v in overrides.items() if k not in TRIGGER_KEYS}
    if not operator and not config:
        return dict(os.environ)
    base = yaml.safe_load(Path(config).read_text(encoding="utf-8")) if config else {}
    path = scratch / "operator.yaml"
    path.write_text(yaml.safe_dump({**(base or {}), **operator}), encoding="utf-8")
    return {**os.environ, "PIPELINE_CONFIG": str(path)}


def cmd_rollback(args: argparse.Namespace) -> int:
    """Move the champion alias back to the previous champion, recording the reason."""
    from pipeline.ops import registry, tracking

    cfg = load_config(args.config, _overrides(args))
    demoted, restored = registry.rollback(tracking.existing_store(), cfg.registered_model_name, args.reason)
    print(f"{cfg.registered_model_name}: champion v{demoted} -> v{restored} ({args.reason})")
    return 0


def cmd_sign_model(args: argparse.Namespace) -> int:
    """Sign a registered version with this deployment's key, as it is stored now: the operator vouches for a
    version logged before models were signed (or imported from elsewhere). Only for a version you trust."""
    from mlflow.exceptions import MlflowException

    from pipeline import settings
    from pipeline.ops import signing, tracking

    cfg = load_config(args.config, _overrides(args))
    client = tracking.existing_store()
    try:
        client.get_model_version(cfg.registered_model_name, args.version)
    except MlflowException as exc:
        raise NotFoundError(f"{cfg.registered_model_name} has no version {args.version!r} in "
                            f"{settings.tracking_uri()}") from exc
    signature = signing.sign_version(client, cfg.registered_model_name, args.version)
    print(f"{cfg.registered_model_name} v{args.version}: signed ({signature[:28]}…)")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve a registered version (``--alias``, champion by default) as MLflow's REST scoring app on
    ``--host``:``--port`` (loopback by default): POST a history table to ``/invocations`` with the server's token
    (:mod:`pipeline.ops.serving`). The model is read from the tracking store of the environment
    (``MLFLOW_TRACKING_URI`` with its user and password), else the local store, into a private copy whose signature
    is verified before any of its code runs; the process becomes the server."""
    import shutil
    import tempfile

    from mlflow.tracking import MlflowClient

    from pipeline import settings
    from pipeline.ops import registry, serving, signing, tracking

    cfg = load_config(args.config, _overrides(args))
    version = registry.alias_version(tracking.existing_store(), cfg.registered_model_name, args.alias)
    if version is None:
        raise ConfigError(f"{cfg.registered_model_name} has no version aliased '{args.alias}' in "
                          f"{settings.tracking_uri()}: run the monthly DAG first (make run)")
    folder = tempfile.mkdtemp(prefix="served-model-")  # the server's own copy: it lives as long as the server
    with signing.verified_version(MlflowClient(), cfg.registered_model_name, version) as verified:
        shutil.copytree(verified, folder, dirs_exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           serving.MODEL_ENV: folder, serving.TOKEN_ENV: serving.token()}
    command = [str(Path(bin_dir) / "uvicorn"), "--factory", "pipeline.ops.serving:create_app", "--host", args.host,
               "--port", str(args.port), "--workers", str(args.workers)]
    logger.info("serving %s v%s (@%s, signature verified) on http://%s:%d/invocations (Authorization: Bearer "
                "<%s>)", cfg.registered_model_name, version, args.alias, args.host, args.port, serving.TOKEN_ENV)
    os.execve(command[0], command, env)
    return 0  # not reached: the server replaced this process


def cmd_settings(args: argparse.Namespace) -> int:
    """Print every setting (or the common ones) as the docs' markdown table."""
    print(settings_table(common_only=args.common), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m pipeline`` argument parser."""
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="ingest, validate, train, evaluate and register once")
    run.add_argument("--run-key", help="re-use a key to resume the same MLflow run (default: cli/<timestamp>)")
    check = sub.add_parser("validate", help="validate a CSV and print the findings")
    forecast = sub.add_parser("forecast", help="print the champion model's forecast")
    forecast.add_argument("--months", type=int, default=12, help="months to forecast (default 12)")
    bt = sub.add_parser("backtest", help="rolling-origin backtest of the LSTM and the baselines")
    bt.add_argument("--json", action="store_true", help="print per-fold and mean metrics as JSON")
    bt.add_argument("--tune", type=boolean, default=False, metavar="BOOL",
                    help="tune inside every fold on that fold's training months (tune_trials trials each), then "
                         "score the winner: an honest score of tuning (default false)")
    back = sub.add_parser("rollback", help="move the champion alias back to the previous champion")
    back.add_argument("--reason", required=True, help="why (recorded on both model versions)")
    fill = sub.add_parser("backfill", help="retrain month by month with each month's as-of data")
    fill.add_argument("--from", dest="start", required=True, help="first data month, YYYY-MM")
    fill.add_argument("--to", dest="end", required=True, help="last data month, YYYY-MM")
    fill.add_argument("--airflow", action="store_true", help="run each month as an Airflow DAG run (dags test)")
    serve = sub.add_parser("serve", help="serve the champion as a REST scoring server (MLflow's, with a token)")
    serve.add_argument("--alias", default="champion", help="the version to serve, by alias (default champion)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default loopback)")
    serve.add_argument("--port", type=int, default=5001, help="the port (default 5001)")
    serve.add_argument("--workers", type=int, default=2, help="server processes (default 2)")
    sign = sub.add_parser("sign-model", help="sign a registered version you trust with this deployment's key")
    sign.add_argument("version", help="the registered version to sign")
    table = sub.add_parser("settings", help="print the settings: default, who sets them, range, what they do")
    table.add_argument("--common", action="store_true", help="only the few settings a user changes")
    for command in (run, check, forecast, bt, back):
        command.add_argument("--as-of", help="use only rows dated before this date (YYYY-MM-DD)")
    for command in (run, check, forecast, bt, back, fill, serve, sign):
        _add_config_flags(command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code: 0, 1 for an error the pipeline explains (one line on stderr: bad
    config or data, no store or champion, a corrupted model, MLflow unreachable), 2 for bad usage (argparse)."""
    args = build_parser().parse_args(argv)
    # no download progress bars (a model is downloaded to verify its signature): an error stays one line
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers = {"run": cmd_run, "validate": cmd_validate, "forecast": cmd_forecast, "backtest": cmd_backtest,
                "rollback": cmd_rollback, "backfill": cmd_backfill, "settings": cmd_settings, "serve": cmd_serve,
                "sign-model": cmd_sign_model}
    try:
        return handlers[args.command](args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
