"""The forecaster: trained networks with the scaling each reads the data through; saved with a checksum."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pipeline import domains
from pipeline.config import COMBINES
from pipeline.data.features import Rows, Scaling, read_months
from pipeline.data.level import LevelScaling
from pipeline.errors import ModelIntegrityError
from pipeline.io import read_json, sha256_file, write_bytes, write_json
from pipeline.metrics import flat, seasonal_naive
from pipeline.model.lstm import LSTMRegressor, NetSpec
from pipeline.model.windows import forecast_windows, last_windows

logger = logging.getLogger(__name__)


class Forecaster:
    """Trained networks with the scaling each reads the data through, in the data's own units.

    ``groups`` pairs a scaling (one view of the data) with the networks (seeds) trained on it; the forecast
    is the mean (``combine``: or the median) over every network of every group.
    """

    def __init__(self, groups: Sequence[tuple[Scaling | LevelScaling, Sequence[LSTMRegressor]]],
                 combine: str = "mean"):
        if not groups or not all(nets for _, nets in groups):
            raise ValueError("a forecaster needs at least one network per group")
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {COMBINES}, got {combine!r}")
        self.combine = combine
        self.groups = [(scaling, [net.eval() for net in nets]) for scaling, nets in groups]
        self.nets = [net for _, nets in self.groups for net in nets]
        self.lookback = max(scaling.lookback for scaling, _ in self.groups)
        self.output_steps = max(net.spec.output_steps for net in self.nets)

    def predict(self, windows: np.ndarray, rows: Rows | None = None) -> np.ndarray:
        """The ``output_steps`` months after each window: (n, lookback) -> (n, output_steps), ensemble mean; each
        window read as its series' kind says (``rows``; without them every window is of a positive series), a
        forecast of a series that is not ``real`` never below zero. A network that predicts fewer months at once
        (a year-over-year view, at most a season, beside a view predicting the whole horizon) forecasts the rest
        from its own months fed back.

        Windows must hold finite values; a forecast that is not finite raises :class:`ModelIntegrityError` rather
        than being returned.
        """
        windows = np.asarray(windows, dtype=float)
        if windows.ndim != 2 or windows.shape[1] != self.lookback:
            raise ValueError(f"expected windows of shape (n, {self.lookback}), got {windows.shape}")
        if not np.isfinite(windows).all():
            raise ValueError("input windows hold NaN or infinite values")
        outputs = []
        with torch.inference_mode():
            for scaling, nets in self.groups:
                if all(net.spec.output_steps == self.output_steps for net in nets):  # the windows read once
                    inputs = torch.as_tensor(scaling.network_inputs(windows, rows), dtype=torch.float32)
                    outputs += [scaling.decode(windows, net(inputs).numpy(), rows) for net in nets]
                    continue
                for net in nets:
                    def one(read: np.ndarray, scaling: Scaling | LevelScaling = scaling,
                            net: LSTMRegressor = net) -> np.ndarray:
                        inputs = torch.as_tensor(scaling.network_inputs(read, rows), dtype=torch.float32)
                        return scaling.decode(read, net(inputs).numpy(), rows)
                    outputs.append(forecast_windows(one, windows, self.output_steps))
        combined = (np.median if self.combine == "median" else np.mean)(outputs, axis=0)
        forecast = combined if rows is None else domains.floor(combined, rows.kinds)
        if not np.isfinite(forecast).all():
            raise ModelIntegrityError(f"the model forecast {int((~np.isfinite(forecast)).sum())} NaN or infinite "
                                      "value(s) (broken weights, or windows it cannot read, such as zeros on a "
                                      "log scale); refusing to return them")
        return forecast

    def read_months(self, season_length: int) -> int:
        """The fewest months of its own a series needs to be read by every view (the rest is backcast)."""
        return max(read_months(scaling.lookback, season_length) for scaling, _ in self.groups)

    def forecast(self, histories: Sequence[np.ndarray], steps: int, season_length: int, value_domain: str = "auto"
                 ) -> tuple[np.ndarray, np.ndarray]:
        """The ``steps`` months after each history, and where the network made them: it reads every series with
        :meth:`read_months` months of its own that changes from year to year (its kind by ``value_domain``);
        the others (too short, or the same every year: all zeros, a constant) are forecast by seasonal naive."""
        out = np.zeros((len(histories), steps))
        read = np.array([len(h) >= self.read_months(season_length) and not flat(h, season_length)
                         for h in histories], dtype=bool)
        for i in np.flatnonzero(~read).tolist():
            out[i] = seasonal_naive(histories[i], steps, season_length)
        chosen = [np.asarray(histories[i], dtype=float) for i in np.flatnonzero(read).tolist()]
        if chosen:
            rows = Rows.of(chosen, value_domain)
            windows = last_windows(chosen, self.lookback, season_length)
            out[read] = forecast_windows(functools.partial(self.predict, rows=rows), windows, steps)
        return out, read

    def save(self, folder: str | Path) -> dict[str, str]:
        """Write the weights and spec atomically (the spec records the weights' SHA-256); return their paths
        (MLflow model artifacts)."""
        folder = Path(folder)
        buffer = io.BytesIO()
        torch.save({f"{i}.{k}": v for i, net in enumerate(self.nets) for k, v in net.state_dict().items()}, buffer)
        weights = write_bytes(folder / "weights.pt", buffer.getvalue())
        groups = [{"net": asdict(nets[0].spec), "members": len(nets), "scaling": scaling.to_dict()}
                  for scaling, nets in self.groups]
        spec = write_json(folder / "forecaster.json", {"lookback": self.lookback, "groups": groups,
                                                        "combine": self.combine,
                                                        "weights_sha256": sha256_file(weights)})
        return {"weights": str(weights), "spec": str(spec)}

    @classmethod
    def load(cls, weights: str | Path, spec: str | Path, expected_sha256: str | None = None) -> Forecaster:
        """Rebuild a forecaster from :meth:`save` output; weights load with ``weights_only=True``.

        The weights must match the SHA-256 recorded in the spec (and ``expected_sha256``, the one recorded in the
        MLflow model, when given), else :class:`ModelIntegrityError`. Also reads the layout written before
        forecasters had groups or checksums (older registered versions).
        """
        meta: dict[str, Any] = read_json(spec)
        verify_weights(weights, meta.get("weights_sha256"), expected_sha256)
        groups = meta.get("groups") or [{"net": meta["net"], "members": meta["members"],
                                         "scaling": {**meta["scaling"], "lookback": meta["lookback"]}}]
        state = torch.load(weights, map_location="cpu", weights_only=True)
        built, index = [], 0
        for group in groups:
            nets = []
            for _ in range(int(group["members"])):
                net = LSTMRegressor(NetSpec(**group["net"]))
                prefix = f"{index}."
                net.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
                nets.append(net)
                index += 1
            built.append((scaling_of(group["scaling"]), nets))
        return cls(built, meta.get("combine", "mean"))


def scaling_of(saved: dict[str, Any]) -> Scaling | LevelScaling:
    """A view's scaling from its saved parameters (:meth:`Scaling.to_dict`, :meth:`LevelScaling.to_dict`)."""
    if saved.get("kind") == "level":
        return LevelScaling(**saved)
    return Scaling(**saved)


def verify_weights(weights: str | Path, *expected: str | None) -> None:
    """Refuse weights whose SHA-256 differs from any recorded checksum (None: nothing was recorded)."""
    recorded = {e for e in expected if e}
    if not recorded:
        logger.warning("no checksum recorded for %s (a version saved before checksums): not verified", weights)
        return
    actual = sha256_file(weights)
    if recorded != {actual}:
        raise ModelIntegrityError(f"model weights {Path(weights).name} do not match the checksum recorded when the "
                                  f"model was trained (recorded sha256 {sorted(recorded)[0][:16]}…, file "
                                  f"{actual[:16]}…): the file is corrupted or was replaced; refusing to load it")
