"""Deep peers on the pipeline's own folds: neuralforecast's NHITS and LSTM, trained and scored on exactly the folds,
series and metric of the pipeline's backtest (``scoring.backtest.origins`` and ``fold_split``; MASE on the
in-sample seasonal-naive scale, sMAPE), so their figures sit beside the LSTM's and statsforecast's
(``benchmarks/m1.py --stats``) in one table.

neuralforecast is a benchmark-only extra: it is not in the monthly run's environment. Install it beside the pinned
torch in a virtualenv of its own (``pip install -c requirements.lock torch==2.13.0 neuralforecast==3.3.0``), then:

    PYTHONPATH=. <that venv>/bin/python benchmarks/peers.py --config configs/m1_monthly.yaml [--max-steps 1000]

Settings are neuralforecast's documented defaults but for those the task fixes: ``h`` the horizon, ``input_size``
3 x horizon, ``max_steps`` 1000, ``scaler_type`` robust, one seed, and ``start_padding_enabled`` (without it
neuralforecast refuses a panel with a series shorter than ``input_size``: M1 has series of 30 training months).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.config import load_config  # noqa: E402
from pipeline.data.validate import check_csv, raise_for_report  # noqa: E402
from pipeline.metrics import mase_scale, metrics_rows  # noqa: E402
from pipeline.months import month_starts  # noqa: E402
from pipeline.scoring import backtest as bt  # noqa: E402


def long_frame(train) -> pd.DataFrame:
    """neuralforecast's long format (unique_id, ds, y) of a panel's training months."""
    frames = [pd.DataFrame({"unique_id": sid, "ds": month_starts(int(start), len(values)), "y": values})
              for sid, start, values in zip(train.ids, train.starts, train, strict=True)]
    return pd.concat(frames, ignore_index=True)


def peer_forecasts(train, horizon: int, models: list[str], max_steps: int, seed: int) -> dict[str, np.ndarray]:
    """Each peer's forecast of every series of ``train`` (n, horizon)."""
    from neuralforecast import NeuralForecast
    from neuralforecast.models import LSTM, NHITS

    kinds = {"NHITS": NHITS, "LSTM": LSTM}
    built = [kinds[name](h=horizon, input_size=3 * horizon, max_steps=max_steps, scaler_type="robust",
                         random_seed=seed, enable_progress_bar=False, logger=False,
                         start_padding_enabled=True) for name in models]
    nf = NeuralForecast(models=built, freq="MS")
    nf.fit(long_frame(train))
    predicted = nf.predict().reset_index()
    out = {}
    for name in models:
        table = predicted.pivot(index="unique_id", columns="ds", values=name)
        out[name] = table.loc[list(train.ids)].to_numpy(dtype=float)[:, :horizon]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "m1_monthly.yaml"))
    parser.add_argument("--models", default="NHITS,LSTM")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    cfg = load_config(args.config)
    panel, report = check_csv(ROOT / cfg.csv_path, cfg)
    raise_for_report(report)
    models = args.models.split(",")
    scores: dict[str, dict[str, list[float]]] = {m: {"mase": [], "smape": []} for m in models}
    started = time.perf_counter()
    for origin in bt.origins(panel, cfg):
        train, actual = bt.fold_split(panel, origin, cfg.horizon, cfg.season_length)
        forecasts = peer_forecasts(train, cfg.horizon, models, args.max_steps, args.seed)
        scales = np.array([mase_scale(h, cfg.season_length) for h in train])
        for name, forecast in forecasts.items():
            rows = metrics_rows(actual, forecast, scales)  # the pipeline's own metrics, as in its backtest
            scores[name]["mase"] += rows["mase"].tolist()
            scores[name]["smape"] += rows["smape"].tolist()
    minutes = (time.perf_counter() - started) / 60
    print(f"{Path(args.config).name}: {len(panel)} series, {cfg.folds} fold(s) x {cfg.horizon} months; "
          f"neuralforecast, max_steps {args.max_steps}, input 3 x horizon, robust scaler, start padding; "
          f"{minutes:.1f} min\n")
    print("| model | mean MASE | median MASE | mean sMAPE % | median sMAPE % | series-folds |")
    print("|---|---|---|---|---|---|")
    for name in models:
        mase, sm = np.array(scores[name]["mase"]), np.array(scores[name]["smape"])
        print(f"| neuralforecast {name} | {np.nanmean(mase):.3f} | {np.nanmedian(mase):.3f} | {np.nanmean(sm):.2f} | "
              f"{np.nanmedian(sm):.2f} | {np.isfinite(mase).sum()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
