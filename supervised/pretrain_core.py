"""Self-supervised pretraining of the policies backbone: samples, model, training loop, checkpoint.

The objective (``OBJECTIVE``): multi-horizon regression of the future log return and the future
realised volatility. For every decision bar t of a market's TRAIN split whose observation window
is valid (``obs_ok``) and whose longest horizon still lies inside the split
(``t + max(horizons) < train end``) and in t's segment (no gap), the targets are, for each
horizon h (default 1, 4, 24 bars), ``log(close[t+h] / close[t])`` and the log realised vol of the
next h bar returns (``raw_targets``), each standardised per market and output by the train
targets' mean and sd. A linear head on the backbone's features predicts them; the loss is the
mean squared error. Returns alone are close to unpredictable (R^2 ~ 0 on crypto), so the vol
targets are what makes the backbone summarise the regime (vol clusters: R^2 well above 0). The account-state
inputs (position, unrealised return, drawdown, bars held) are zeros: a flat account, which is
what the env reports before the first trade.

Why this objective: it is causal by construction (targets read closes at most ``max(horizons)``
bars ahead and never past the train split's end, so truncating the data after the train end gives
the same checkpoint: ``tests/test_pretrain.py``), the backbone must summarise the window's trend
and volatility state at the scales the trading policy acts on (an hour to a day), and it is cheap
(no labels, no costs, no decoder). Nothing is selected on val: the run trains a fixed number of
epochs; val figures (R^2 per horizon) are reported in metrics.json only.

Determinism: one torch thread, ``torch.manual_seed(seed)`` before the model is built, a seeded
``torch.Generator`` for the shuffles, and a checkpoint with no time stamps, paths or host names
in it: the same command writes the same bytes (``pretrain_checkpoint``).
"""

from __future__ import annotations

import dataclasses
import io
import platform
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from envs.features import FEATURE_SETS
from envs.marketspec import is_market
from lab.config import Rule, doc
from policies import PRESETS as MODEL_PRESETS
from policies import TransformerBackbone, TransformerConfig, make_config

FORMAT = "rltrade-pretrained-v1"
OBJECTIVE = "multi_horizon_return_and_vol"
TARGET_KINDS = ("return", "vol")
VOL_FLOOR = 1e-5  # log-vol floor: a flat stretch (zero returns) is finite


@dataclass
class PretrainConfig:
    """Everything the checkpoint's bytes depend on (saved as config.yaml and in the checkpoint)."""

    markets: list[str] = field(
        default_factory=lambda: ["btc1h", "eth1h"],
        metadata=doc("markets whose TRAIN splits are pretrained on (presets or market keys)"),
    )
    feature_set: str = field(
        default="flagtrader60",
        metadata=doc("envs.features set, as the PPO run's env", choices=tuple(FEATURE_SETS)),
    )
    window: int = field(default=16, metadata=doc("observation window in bars, as the PPO env"))
    preset: str = field(
        default="cpu", metadata=doc("policies transformer preset", choices=tuple(MODEL_PRESETS))
    )
    horizons: list[int] = field(
        default_factory=lambda: [1, 4, 24],
        metadata=doc("target horizons in bars"),
    )
    targets: list[str] = field(
        default_factory=lambda: list(TARGET_KINDS),
        metadata=doc(
            "per horizon: return = future log return, vol = log realised vol (supervised."
            "pretrain_core)",
            choices=TARGET_KINDS,
        ),
    )
    epochs: int = field(default=3, metadata=doc("passes over the samples (no early stopping)"))
    batch_size: int = field(default=256, metadata=doc("samples per AdamW step"))
    lr: float = field(default=1e-3, metadata=doc("AdamW learning rate (constant)"))
    weight_decay: float = field(default=0.01, metadata=doc("AdamW weight decay"))
    max_samples_per_market: int | None = field(
        default=None, metadata=doc("keep N evenly spaced train samples per market (quick runs)")
    )
    seed: int = field(default=0, metadata=doc("torch seed (init and shuffles)"))

    RULES: ClassVar[dict[str, Rule]] = {
        "markets": (
            lambda v: len(v) >= 1 and all(is_market(m) for m in v),
            "one or more data presets, candle files or catalog entries",
        ),
        "window": (lambda v: v >= 1, ">= 1 bar"),
        "horizons": (lambda v: len(v) >= 1 and all(h >= 1 for h in v), "one or more bars >= 1"),
        "targets": (lambda v: len(v) == len(set(v)) >= 1, "one or more distinct kinds"),
        "epochs": (lambda v: v >= 1, ">= 1"),
        "batch_size": (lambda v: v >= 1, ">= 1"),
        "lr": (lambda v: v > 0, "> 0"),
        "weight_decay": (lambda v: v >= 0, ">= 0"),
        "max_samples_per_market": (lambda v: v >= 2, ">= 2 (or unset)"),
    }


@dataclass
class MarketSamples:
    """One market's pretraining samples: window end bars, standardised targets, features.

    ``features`` holds only rows ``[0, train end)``: nothing after the train split is kept.
    """

    name: str
    features: np.ndarray  # float32 (hi, F), rows up to the train end
    ends: np.ndarray  # int64 (n,), decision bars t (window [t-W+1, t])
    targets: np.ndarray  # float32 (n, H), standardised future log returns
    mean: list[float]
    std: list[float]


def raw_targets(
    close: np.ndarray,
    segment: np.ndarray,
    obs_ok: np.ndarray,
    rows: tuple[int, int],
    horizons: list[int],
    kinds: tuple[str, ...] = TARGET_KINDS,
) -> tuple[np.ndarray, np.ndarray]:
    """``(ends, targets (n, len(kinds) * H))`` of every usable decision bar in ``rows = [lo, hi)``.

    Per horizon h: ``return`` = ``log(close[t+h] / close[t])``; ``vol`` = log of the realised
    volatility over the next h bars, ``log(sqrt(mean(r[t+1..t+h]^2)) + 1e-5)`` with r the bar log
    returns. Usable: ``obs_ok[t]``, and for every h, ``t + h < hi`` (the target's last close is
    inside the split) and ``segment[t + h] == segment[t]`` (no gap). Reads no row >= hi.
    """
    lo, hi = int(rows[0]), int(rows[1])
    h_max = max(horizons)
    t: np.ndarray = np.arange(lo, max(lo, hi - h_max), dtype=np.int64)  # t + h_max <= hi - 1
    ok = obs_ok[t].copy()
    log_close = np.log(close[:hi])
    step = np.diff(log_close, prepend=log_close[:1])  # r[k] = log c[k] - log c[k-1]; r[0] = 0
    cum_sq = np.cumsum(step**2)
    cols = []
    for h in horizons:
        ok &= segment[t + h] == segment[t]
        for kind in kinds:
            if kind == "return":
                cols.append(log_close[t + h] - log_close[t])
            else:  # realised vol over (t, t+h]
                cols.append(np.log(np.sqrt((cum_sq[t + h] - cum_sq[t]) / h) + VOL_FLOOR))
    out = np.stack(cols, axis=1) if cols else np.empty((len(t), 0))
    return t[ok], out[ok]


def _thin(n: int, cap: int | None) -> np.ndarray:
    """Indices of at most ``cap`` evenly spaced samples out of ``n`` (all when ``cap`` is None)."""
    if cap is None or n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def market_samples(
    name: str,
    market: Any,
    rows: tuple[int, int],
    horizons: list[int],
    cap: int | None = None,
    kinds: tuple[str, ...] = TARGET_KINDS,
) -> MarketSamples:
    """Standardised samples of ``market`` (an ``envs.MarketData``) on its train ``rows``."""
    ends, y = raw_targets(market.close, market.segment, market.obs_ok, rows, horizons, kinds)
    if len(ends) < 2:
        raise ValueError(
            f"{name}: only {len(ends)} usable train samples for horizons {horizons} "
            "(too short a train split or too long a horizon)"
        )
    keep = _thin(len(ends), cap)
    mean, std = y.mean(axis=0), y.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    z = ((y - mean) / std)[keep].astype(np.float32)
    feats = np.ascontiguousarray(market.features[: int(rows[1])], dtype=np.float32)
    return MarketSamples(name, feats, ends[keep], z, mean.tolist(), std.tolist())


class PretrainNet(nn.Module):
    """The policies backbone plus a linear head predicting one value per horizon."""

    def __init__(self, config: TransformerConfig, n_outputs: int) -> None:
        super().__init__()
        self.backbone = TransformerBackbone(config)
        self.head = nn.Linear(config.out_dim, n_outputs)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, obs_dim) -> (B, n_outputs)."""
        return self.head(self.backbone(obs))


class WindowBatches:
    """Flat observations (window rows + zero account state) gathered on demand from the
    markets' feature arrays, so the (n, W*F) matrix is never materialised."""

    def __init__(self, samples: list[MarketSamples], window: int, n_account: int) -> None:
        offsets = np.cumsum([0] + [len(s.features) for s in samples[:-1]])
        self.features = torch.from_numpy(np.concatenate([s.features for s in samples]))
        self.ends = torch.from_numpy(
            np.concatenate([s.ends + off for s, off in zip(samples, offsets, strict=True)])
        )
        self.targets = torch.from_numpy(np.concatenate([s.targets for s in samples]))
        self.lags = torch.arange(-window + 1, 1)  # oldest bar first, like the env
        self.n_account = n_account

    def __len__(self) -> int:
        return int(self.ends.shape[0])

    def obs(self, idx: torch.Tensor) -> torch.Tensor:
        """(B,) sample indices -> (B, W*F + n_account) observations."""
        rows = self.ends[idx][:, None] + self.lags  # (B, W) bar indices
        x = self.features[rows].reshape(len(idx), -1)  # (B, W, F) -> (B, W*F)
        return torch.cat([x, torch.zeros(len(idx), self.n_account)], dim=1)


def build_model(preset: str, window: int, n_features: int, n_outputs: int) -> PretrainNet:
    """A fresh backbone (the preset's architecture, dropout 0, no LoRA) and head."""
    config = make_config(preset, window=window, n_features=n_features, dropout=0.0, lora_rank=0)
    return PretrainNet(config, n_outputs)


def train(
    model: PretrainNet,
    data: WindowBatches,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    log: Any = print,
) -> list[float]:
    """AdamW on the MSE for ``epochs`` full passes (seeded shuffles); returns each epoch's mean
    loss. The caller seeds torch before building ``model`` and sets one thread."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay, foreach=False)
    gen = torch.Generator().manual_seed(int(seed))
    history = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=gen)
        total = 0.0
        for start in range(0, len(data), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.mse_loss(model(data.obs(idx)), data.targets[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(data))
        log(f"epoch {epoch + 1}/{epochs}: train mse {history[-1]:.4f} (standardised targets)")
    model.eval()
    return history


@torch.no_grad()
def r_squared(model: PretrainNet, data: WindowBatches, batch_size: int = 4096) -> list[float]:
    """Per-output R^2 = 1 - MSE / var of the (standardised) targets in ``data``."""
    preds = torch.cat(
        [
            model(data.obs(torch.arange(i, min(i + batch_size, len(data)))))
            for i in range(0, len(data), batch_size)
        ]
    )
    y = data.targets
    mse = ((preds - y) ** 2).mean(dim=0)
    var = y.var(dim=0, unbiased=False).clamp_min(1e-12)
    return (1.0 - mse / var).tolist()


def versions() -> dict[str, str]:
    """Library versions the checkpoint's bytes depend on."""
    return {
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "python": platform.python_version(),
    }


def checkpoint_payload(model: PretrainNet, **fields: Any) -> dict[str, Any]:
    """The checkpoint dict: format, backbone + head weights, model_config and ``fields``."""
    return {
        "format": FORMAT,
        "backbone": {k: v.detach().clone() for k, v in model.backbone.state_dict().items()},
        "head": {k: v.detach().clone() for k, v in model.head.state_dict().items()},
        "model_config": dataclasses.asdict(model.backbone.config),
        **fields,
    }


def checkpoint_bytes(payload: dict[str, Any]) -> bytes:
    """``torch.save`` of ``payload`` into memory (written atomically by the caller)."""
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


REQUIRED = ("backbone", "model_config", "feature_set", "window", "markets", "objective")


def read_checkpoint(path: Any) -> dict[str, Any]:
    """Load a pretrained-backbone checkpoint safely (``weights_only=True``); ValueError (one
    line) when the file is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a non-checkpoint raises pickle/zip errors of many kinds
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()] or [""]
        first = next((ln for ln in lines if "WeightsUnpickler error" in ln), lines[0])[:200]
        raise ValueError(
            f"{path}: not a loadable pretrained checkpoint ({type(exc).__name__}: {first})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(
            f"{path}: not a pretrained backbone (format {got!r}, expected {FORMAT!r}); "
            "build one with python -m supervised.pretrain"
        )
    missing = [k for k in REQUIRED if k not in payload]
    if missing:
        raise ValueError(f"{path}: pretrained checkpoint lacks {missing}; rebuild it")
    return payload
