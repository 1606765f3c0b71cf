"""Step 4b: the seeded, explicit training loop (train_step / eval_step) with per-epoch losses."""

from __future__ import annotations

import copy
import functools
import logging
import math
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from pipeline.config import Config
from pipeline.data.features import FeatureSet, Scaling, build_views
from pipeline.data.level import LevelScaling
from pipeline.data.panel import Panel
from pipeline.errors import ConfigError, TrainingDivergedError
from pipeline.model.forecaster import Forecaster
from pipeline.model.lstm import LSTMRegressor, NetSpec
from pipeline.model.optim import Adam, make_adam
from pipeline.settings import torch_threads, train_threads

logger = logging.getLogger(__name__)

EpochCallback = Callable[[int, float, float | None], None]


@dataclass
class History:
    """Per-epoch mean training loss and validation loss (MSE, scaled units)."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def use_torch_threads() -> None:
    """Give torch's kernels ``PIPELINE_TORCH_THREADS`` threads in the calling thread. OpenMP's and MKL's counts are
    per thread: a thread started after ``torch.set_num_threads`` has every core, and MKL picks its own count from
    call to call under load (a matrix product split another way, a loss another in the sixth digit), until torch
    sets them on the thread's first large operation."""
    torch.set_num_threads(torch_threads())


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, ask torch for deterministic kernels and set its thread count."""
    use_torch_threads()
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_deterministic_debug_mode("error")  # = use_deterministic_algorithms(True), without importing inductor


@functools.cache
def bf16_supported() -> bool:
    """Whether this CPU's oneDNN runs an LSTM in bfloat16 (it needs bfloat16 instructions, such as AVX512-BF16 or
    AMX; without them the LSTM primitive cannot be created): one tiny forward, once a process."""
    probe = nn.LSTM(1, 2, batch_first=True)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            probe(torch.zeros(1, 2, 1))
    except RuntimeError:
        return False
    return True


def weighted_mse(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean squared error with one weight per window (row)."""
    return torch.mean(weights[:, None] * (prediction - target) ** 2)


def weighted_mae(prediction: torch.Tensor, target: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, each window's (row's) weighted by the square root of its weight (the weights are of
    squared errors: 1 / scale**2)."""
    return torch.mean(weights.sqrt()[:, None] * (prediction - target).abs())


LOSS_FUNCTIONS = {"mse": nn.MSELoss, "mae": nn.L1Loss}  # the ``loss`` setting's choices (weighted: weighted_*)


def set_learning_rate(optimizer: Adam | torch.optim.Optimizer, rate: float) -> None:
    """Set the learning rate of the next steps."""
    if isinstance(optimizer, Adam):
        optimizer.lr = rate
    else:
        for group in optimizer.param_groups:
            group["lr"] = rate


def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
          weights: torch.Tensor | None, bf16: bool = False) -> torch.Tensor:
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        prediction = model(x)
    prediction = prediction.float()
    if weights is None:
        return loss_fn(prediction, y)
    return (weighted_mae if isinstance(loss_fn, nn.L1Loss) else weighted_mse)(prediction, y, weights)


def train_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor, optimizer: Adam | torch.optim.Optimizer,
               loss_fn: nn.Module, wb: torch.Tensor | None = None, bf16: bool = False) -> float:
    """One optimisation step on one batch (windows weighted by ``wb`` when given); returns the batch loss. With
    ``bf16``, the network's forward (and so its backward) computes in bfloat16 (CPU autocast; the weights, the loss
    and the optimizer stay in float32)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = _loss(model, xb, yb, loss_fn, wb, bf16)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def eval_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module,
              w: torch.Tensor | None = None) -> float:
    """Loss on ``x``/``y`` (weighted by ``w`` when given) with dropout off and no autograd."""
    model.eval()
    with torch.inference_mode():
        return float(_loss(model, x, y, loss_fn, w))


def init_network(spec: NetSpec, seed: int, weights: dict[str, torch.Tensor] | None = None) -> LSTMRegressor:
    """A network with seeded random weights, or with ``weights`` (a warm start): call it from one thread at a time
    (it seeds torch's global generator)."""
    seed_everything(seed)
    model = LSTMRegressor(spec)
    if weights is not None:
        model.load_state_dict(weights)
    return model


@dataclass(frozen=True)
class TrainSettings:
    """How one network trains. With ``patience`` > 0 and validation windows, training stops once the validation
    loss has not improved for ``patience`` epochs and the weights of the best epoch are kept (early stopping)."""

    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    patience: int = 0
    precision: str = "fp32"
    log_every: int = 10
    loss: str = "mse"
    lr_schedule: str = "constant"

    @classmethod
    def of(cls, cfg: Config, seed: int, epochs: int | None = None, member: int = 0) -> TrainSettings:
        """The settings of a config's networks (``epochs`` when given: a warm start's); ``member``: the network's
        place in its view's ensemble (it picks its loss from ``loss``)."""
        return cls(epochs=epochs or cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                   seed=seed, patience=cfg.patience, precision=cfg.precision,
                   loss=cfg.losses[member % len(cfg.losses)], lr_schedule=cfg.lr_schedule)


def fit(data: FeatureSet, spec: NetSpec, settings: TrainSettings, on_epoch: EpochCallback | None = None
        ) -> tuple[LSTMRegressor, History]:
    """Train a fresh network on ``data``; deterministic for the same data, settings and seed on CPU."""
    return train(init_network(spec, settings.seed), data, settings, on_epoch)


def train(model: LSTMRegressor, data: FeatureSet, settings: TrainSettings, on_epoch: EpochCallback | None = None
          ) -> tuple[LSTMRegressor, History]:
    """The training loop of :func:`fit` on a network already built: it draws no numbers from torch's global
    generator (the window order has its own, seeded), so networks without dropout train on several threads at
    once with the results of one after the other."""
    epochs, batch_size, learning_rate = settings.epochs, settings.batch_size, settings.learning_rate
    patience, log_every = settings.patience, settings.log_every
    optimizer = make_adam(model.parameters(), learning_rate)
    loss_fn = LOSS_FUNCTIONS[settings.loss]()
    steps = model.spec.output_steps
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train).reshape(-1, steps)
    x_val, y_val = torch.from_numpy(data.x_val), torch.from_numpy(data.y_val).reshape(-1, steps)
    w_train, w_val = ((torch.from_numpy(data.w_train), torch.from_numpy(data.w_val)) if data.w_train is not None
                      else (None, None))
    order = torch.Generator().manual_seed(settings.seed)
    bf16 = settings.precision == "bf16"
    history = History()
    best_loss, best_state = float("inf"), None
    started = time.perf_counter()
    total_steps, step = epochs * math.ceil(len(x_train) / batch_size), 0
    for epoch in range(1, epochs + 1):
        permutation = torch.randperm(len(x_train), generator=order)
        total = 0.0
        for start in range(0, len(x_train), batch_size):
            if settings.lr_schedule == "cosine":
                set_learning_rate(optimizer, learning_rate * 0.5 * (1 + math.cos(math.pi * step / total_steps)))
            step += 1
            idx = permutation[start:start + batch_size]
            weights = w_train[idx] if w_train is not None else None
            total += train_step(model, x_train[idx], y_train[idx], optimizer, loss_fn, weights, bf16) * len(idx)
        history.train_loss.append(total / len(x_train))
        val = eval_step(model, x_val, y_val, loss_fn, w_val) if len(x_val) else None
        if not math.isfinite(history.train_loss[-1]) or (val is not None and not math.isfinite(val)):
            raise TrainingDivergedError(f"training diverged at epoch {epoch}: the loss is "
                                        f"{history.train_loss[-1]} (training) / {val} (validation); "
                                        f"learning_rate {learning_rate:g} is too high for this data?")
        if val is not None:
            history.val_loss.append(val)
        if on_epoch is not None:
            on_epoch(epoch, history.train_loss[-1], val)
        if epoch == 1 or epoch % log_every == 0 or epoch == epochs:
            logger.info("epoch %d/%d train_loss=%.5f val_loss=%s (%.1fs)", epoch, epochs, history.train_loss[-1],
                        f"{val:.5f}" if val is not None else "n/a", time.perf_counter() - started)
        if patience and val is not None:
            if val < best_loss:
                best_loss, best_state, history.best_epoch = val, copy.deepcopy(model.state_dict()), epoch
            elif epoch - history.best_epoch >= patience:
                logger.info("early stop at epoch %d: best val_loss %.5f at epoch %d", epoch, best_loss,
                            history.best_epoch)
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    else:
        history.best_epoch = len(history.train_loss)
    history.seconds = time.perf_counter() - started
    return model.eval(), history


def net_spec(cfg: Config, input_size: int = 1, output_steps: int | None = None) -> NetSpec:
    """The network shape a config asks for, of a view reading ``input_size`` values a time step and predicting
    ``output_steps`` months at once (default: the config's)."""
    return NetSpec(hidden_size=cfg.hidden_size, num_layers=cfg.num_layers, dropout=cfg.dropout,
                   input_size=input_size, output_steps=output_steps or cfg.steps_out)


def fit_ensemble(views: list[tuple[FeatureSet, Scaling | LevelScaling]], cfg: Config,
                 start: list[dict[str, torch.Tensor]] | None = None) -> tuple[Forecaster, list[History]]:
    """Train ``cfg.ensemble_size`` networks (seeds ``seed``, ``seed + 1``, ...) per view and average them all.

    With ``start`` (one state dict per network, views x members: a warm start), each network starts from those
    weights and trains for ``warm_epochs`` (``epochs`` when 0) instead of from seeded random weights.

    The networks are built one after the other (seeded), then trained side by side on ``PIPELINE_TRAIN_THREADS``
    threads (torch runs its kernels without Python's lock): the same networks as one after the other, unless they
    use dropout, whose random masks come from torch's one global generator (then: one at a time).
    """
    jobs = [(data, scaling, member) for data, scaling in views for member in range(cfg.ensemble_size)]
    if start is not None and len(start) != len(jobs):
        raise ValueError(f"a warm start needs {len(jobs)} networks' weights, got {len(start)}")
    if cfg.precision == "bf16" and not bf16_supported():
        raise ConfigError("precision bf16: this CPU cannot run an LSTM in bfloat16 (no AVX512-BF16 or AMX "
                          "instructions for oneDNN); use precision fp32")
    epochs = (cfg.warm_epochs or cfg.epochs) if start is not None else cfg.epochs
    threads = min(len(jobs), train_threads()) if cfg.dropout == 0 else 1
    logger.info("training %d network(s) (%d view(s) x %d seed(s)) on %d thread(s), %s start, up to %d epochs",
                len(jobs), len(views), cfg.ensemble_size, threads, "warm" if start is not None else "cold", epochs)

    def run(k: int, net: LSTMRegressor) -> tuple[LSTMRegressor, History]:
        data, scaling, member = jobs[k]
        logger.info("view %s (%d time steps), member %d/%d", scaling.view, scaling.time_steps, member + 1,
                    cfg.ensemble_size)
        return train(net, data, TrainSettings.of(cfg, cfg.seed + member, epochs, member))

    def build(k: int) -> LSTMRegressor:
        data, scaling, member = jobs[k]
        return init_network(net_spec(cfg, scaling.features, data.y_train.shape[1]), cfg.seed + member,
                            None if start is None else start[k])

    if threads > 1:
        nets = [build(k) for k in range(len(jobs))]  # here, in one thread: seeding is global
        with ThreadPoolExecutor(threads, thread_name_prefix="train", initializer=use_torch_threads) as pool:
            results = list(pool.map(run, range(len(jobs)), nets))
    else:
        results = [run(k, build(k)) for k in range(len(jobs))]
    groups = [(scaling, [results[k][0] for k in range(len(jobs)) if jobs[k][1] is scaling]) for _, scaling in views]
    return Forecaster(groups, cfg.combine), [history for _, history in results]


def fit_forecaster(panel: Panel, cfg: Config, start: list[dict[str, torch.Tensor]] | None = None
                   ) -> tuple[Forecaster, list[History]]:
    """Features and training in one call: a forecaster fitted on ``panel`` alone (from ``start``'s weights when
    given)."""
    return fit_ensemble(build_views(panel, cfg), cfg, start)


def mean_by_epoch(curves: list[list[float]]) -> list[float]:
    """The mean of per-epoch curves of different lengths: at each epoch, over the curves still running."""
    curves = [c for c in curves if c]
    longest = max((len(c) for c in curves), default=0)
    return [float(np.mean([c[i] for c in curves if i < len(c)])) for i in range(longest)]


def mean_curves(histories: list[History]) -> dict[str, list[float]]:
    """Per-epoch losses averaged over the ensemble members still training at that epoch."""
    return {key: mean_by_epoch([getattr(h, key) for h in histories]) for key in ("train_loss", "val_loss")}
