"""Where one training's time goes: the default ensemble trained on AirPassengers up to 1959-12 (the last backtest
fold), member by member: epochs run, seconds, the floating-point work counted from the network's shape, and the
share of what the machine's cores can do.

The networks train side by side on ``--train-threads`` threads, as in the pipeline (``PIPELINE_TRAIN_THREADS``).
FLOPs of an LSTM layer (input I, hidden H) per window and time step: 2 * 4H * (I + H) for its two matrix products
plus about 10H for gates and bias; the dense head 2 * H * out; the backward pass about twice the forward. Peak: cores
x clock x FP32 FLOPs per cycle (``--flops-per-cycle``, 32 for two 256-bit FMA pipes, AMD Zen 4 and most x86 cores
with AVX2/AVX-512; ``--ghz`` the clock; ``--cores``).

    .venv/bin/python benchmarks/training.py [--train-threads 2] [--threads 1] [--ghz 2.6] [--cores 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def lstm_flops(spec, time_steps: int, windows: int) -> float:
    """Forward FLOPs of the network over ``windows`` windows of ``time_steps`` months."""
    per_step, inputs = 0.0, spec.input_size
    for _ in range(spec.num_layers):
        per_step += 2 * 4 * spec.hidden_size * (inputs + spec.hidden_size) + 10 * spec.hidden_size
        inputs = spec.hidden_size
    return windows * (time_steps * per_step + 2 * spec.hidden_size * spec.output_steps)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per network (PIPELINE_TORCH_THREADS)")
    parser.add_argument("--train-threads", type=int, default=2,
                        help="networks trained side by side (PIPELINE_TRAIN_THREADS; 1: one after the other)")
    parser.add_argument("--ghz", type=float, default=2.6, help="core clock for the peak (this machine: 2.6)")
    parser.add_argument("--flops-per-cycle", type=int, default=32, help="FP32 FLOPs per cycle and core")
    parser.add_argument("--cores", type=int, default=2, help="cores the peak counts (this machine: 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size")
    parser.add_argument("--learning-rate", type=float, default=None, help="override the preset's learning rate")
    parser.add_argument("--precision", default=None, choices=("fp32", "bf16"), help="override the preset's precision")
    args = parser.parse_args()
    os.environ["PIPELINE_TORCH_THREADS"] = str(args.threads)
    os.environ["PIPELINE_TRAIN_THREADS"] = str(args.train_threads)

    import pandas as pd

    from pipeline.config import load_config
    from pipeline.data.features import build_views
    from pipeline.data.panel import single
    from pipeline.model.train import fit_ensemble, net_spec
    from pipeline.scoring.backtest import fold_split, origins

    frame = pd.read_csv(ROOT / "data" / "AirPassengers.csv")
    series = pd.Series(frame.iloc[:, 1].to_numpy(float), index=pd.to_datetime(frame.iloc[:, 0])).asfreq("MS")
    overrides = {k: v for k, v in (("batch_size", args.batch_size), ("learning_rate", args.learning_rate),
                                   ("precision", args.precision)) if v}
    cfg = load_config(overrides=overrides)
    panel = single(series)
    train, _ = fold_split(panel, origins(panel, cfg)[-1], cfg.horizon, cfg.season_length)
    views = build_views(train, cfg)
    started = time.perf_counter()
    _, histories = fit_ensemble(views, cfg)  # the pipeline's own call: members side by side on the threads
    wall = time.perf_counter() - started
    rows, total_flops = [], 0.0
    members = iter(histories)
    for data, scaling in views:
        spec = replace(net_spec(cfg), input_size=data.x_train.shape[2])
        steps, n_train, n_val = data.x_train.shape[1], len(data.x_train), len(data.x_val)
        for member in range(cfg.ensemble_size):
            history = next(members)
            epochs = len(history.train_loss)
            flops = epochs * (3 * lstm_flops(spec, steps, n_train) + lstm_flops(spec, steps, n_val))
            rows.append((scaling.view, member, epochs, n_train, steps, history.seconds, flops))
            total_flops += flops
    peak = args.cores * args.ghz * 1e9 * args.flops_per_cycle
    print(f"default ensemble on AirPassengers to 1959-12, batch {cfg.batch_size}, lr {cfg.learning_rate:g}, "
          f"{cfg.precision}, "
          f"{args.train_threads} network(s) at once, {args.threads} torch thread(s) each; peak of {args.cores} "
          f"core(s): {peak / 1e9:.0f} GFLOP/s ({args.ghz} GHz x {args.flops_per_cycle} FLOP/cycle each)\n")
    print("| view | member | epochs | windows x months | seconds | ms per epoch | GFLOP |")
    print("|---|---|---|---|---|---|---|")
    for view, member, epochs, n_train, steps, seconds, flops in rows:
        print(f"| {view} | {member} | {epochs} | {n_train} x {steps} | {seconds:.2f} | {1000 * seconds / epochs:.1f} | "
              f"{flops / 1e9:.2f} |")
    print(f"| **all** (wall time of the training) | {len(rows)} networks | {sum(r[2] for r in rows)} | | "
          f"**{wall:.2f}** | | {total_flops / 1e9:.2f} |")
    print(f"\n{total_flops / wall / 1e9:.1f} GFLOP/s = {total_flops / wall / peak:.1%} of the {args.cores} cores' peak "
          f"({total_flops / wall / peak * args.cores:.1%} of one core's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
