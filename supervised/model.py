"""The supervised classifier and its windowed dataset, on the env's exact observation layout.

Classifier = ``policies.TransformerBackbone`` + ``nn.Linear(features_dim, 3)``: logits in the
env's action order (0 SELL, 1 HOLD, 2 BUY). Its input is the env's flat observation
``window * F + 4`` (the window row-major ``(window, F)`` oldest first, then the account state
``[position, unrealised_return, drawdown, bars_held_scaled]``). **Supervised samples use an
all-zero account state (= flat, nothing held).** The weights that read the account state are
zeroed at construction; they get no gradient from all-zero inputs, so they stay zero: the
classifier's output does not depend on the account state at all, its backtest through the env
equals its offline predictions, and a PPO policy warm-started from it ignores the account state
until RL teaches it otherwise.

``WindowSamples`` never materialises the windows: it keeps the normalised feature matrix
``(T, F)`` once and a vector of decision bars; ``obs(batch_idx)`` gathers ``(B, window, F)`` on
the fly. Only bars where the env's ``obs_ok`` is true (window inside one segment, every feature
row valid) and the label is not masked are samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from policies import TransformerBackbone, TransformerConfig

N_ACCOUNT = 4
N_CLASSES = 3


class Classifier(nn.Module):
    """``(B, window*F + 4)`` flat observations -> ``(B, 3)`` logits (SELL, HOLD, BUY)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        if config.n_account != N_ACCOUNT:
            raise ValueError(
                f"the env's account state has {N_ACCOUNT} values, config has "
                f"n_account={config.n_account}"
            )
        self.config = config
        self.backbone = TransformerBackbone(config)
        self.head = nn.Linear(config.out_dim, N_CLASSES)
        nn.init.normal_(self.head.weight, mean=0.0, std=0.02)  # nanoGPT init, like the backbone
        nn.init.zeros_(self.head.bias)
        with torch.no_grad():  # account-state inputs start (and, fed zeros, stay) at weight 0
            if self.backbone.proj is not None:
                self.backbone.proj.weight[:, config.d_model :] = 0.0
            else:
                self.head.weight[:, config.d_model :] = 0.0

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Class logits (B, 3) of a batch of flattened observations."""
        return self.head(self.backbone(obs))  # (B, obs_dim) -> (B, features_dim) -> (B, 3)


@dataclass
class WindowSamples:
    """Decision bars ``t`` (int64) and labels over one shared ``(T, F)`` float32 feature matrix."""

    features: np.ndarray
    t: np.ndarray
    labels: np.ndarray
    window: int

    def __len__(self) -> int:
        return len(self.t)

    def obs(self, idx: np.ndarray | slice | None = None) -> torch.Tensor:
        """Flat observations ``(B, window*F + 4)`` float32 for samples ``idx`` (all if None)."""
        t = self.t if idx is None else self.t[idx]
        rows = t[:, None] + np.arange(-self.window + 1, 1)[None, :]  # (B, W): oldest bar first
        win = self.features[rows]  # (B, W, F)
        flat = win.reshape(len(t), -1)  # (B, W, F) -> (B, W*F), row-major like the env
        out = np.zeros((len(t), flat.shape[1] + N_ACCOUNT), dtype=np.float32)
        out[:, : flat.shape[1]] = flat  # account state stays 0 = flat
        return torch.from_numpy(out)

    def targets(self, idx: np.ndarray | slice | None = None) -> torch.Tensor:
        """The labels of samples ``idx`` (all when None) as an int64 tensor."""
        y = self.labels if idx is None else self.labels[idx]
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))


def build_samples(
    features: np.ndarray,
    obs_ok: np.ndarray,
    labels: np.ndarray,
    lo: int,
    hi: int,
    window: int,
    keep: np.ndarray | None = None,
) -> WindowSamples:
    """Samples for decision bars in ``[lo, hi)`` with ``obs_ok`` and an unmasked label.

    ``keep`` (bool, len = hi - lo) is an extra mask over ``[lo, hi)``, e.g. ``purge_for_split``.
    Raises ValueError on length mismatch or when no sample survives (names the counts).
    """
    feats = np.asarray(features, dtype=np.float32)
    n = len(feats)
    if not (len(obs_ok) == len(labels) == n):
        raise ValueError(
            f"features ({n}), obs_ok ({len(obs_ok)}) and labels ({len(labels)}) "
            "must have one row per bar"
        )
    t: np.ndarray = np.arange(lo, hi, dtype=np.int64)
    ok = np.asarray(obs_ok, dtype=bool)[t] & (np.asarray(labels)[t] >= 0) & (t >= window - 1)
    if keep is not None:
        ok &= np.asarray(keep, dtype=bool)
    if not ok.any():
        raise ValueError(
            f"no samples in bars [{lo}, {hi}): obs_ok {int(np.asarray(obs_ok)[lo:hi].sum())}, "
            f"labelled {int((np.asarray(labels)[lo:hi] >= 0).sum())}"
        )
    return WindowSamples(feats, t[ok], np.asarray(labels, dtype=np.int64)[t[ok]], int(window))


@torch.no_grad()
def predict_logits(model: nn.Module, samples: WindowSamples, batch_size: int = 2048) -> np.ndarray:
    """Logits ``(N, 3)`` float64 for every sample, in eval mode, batched."""
    was_training = model.training
    model.eval()
    out = [
        model(samples.obs(np.arange(i, min(i + batch_size, len(samples))))).double().numpy()
        for i in range(0, len(samples), batch_size)
    ]
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, N_CLASSES))
