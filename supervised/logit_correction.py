"""Post-hoc logit correction: a per-class bias added to the logits, fitted on VALIDATION.

``corrected = logits + bias``; ``bias[HOLD] = 0`` (only differences matter to argmax/softmax).

Methods:
* ``balanced_accuracy`` (default): choose ``bias[SELL], bias[BUY]`` on a coarse-to-fine grid in
  ``[-span, span]`` to maximise validation balanced accuracy of the argmax; ties go to the bias
  with the smallest L1 norm (the least change). Targets the collapse directly: a model that
  predicts one class everywhere has balanced accuracy 1/3.
* ``prior_match``: Saerens et al. (2002) style fixed point ``bias += log(prior_val / mean p)``
  until the mean softmax probability per class equals the validation label prior.
* ``none``: zero bias.

Fitting on val means val metrics after correction are optimistic; the test split stays untouched.
The correction is stored in the checkpoint and folded into the PPO ``action_net`` bias at warm
start, so the classifier and the warm-started policy act identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

CORRECTION_METHODS = ("none", "balanced_accuracy", "prior_match")


@dataclass
class LogitCorrection:
    """Per-class additive logit bias (float64, shape (C,)) and how it was fitted."""

    bias: np.ndarray
    method: str = "none"

    def apply(self, logits: np.ndarray) -> np.ndarray:
        """The corrected logits (``logits + bias``)."""
        return np.asarray(logits, dtype=np.float64) + self.bias

    def to_dict(self) -> dict[str, Any]:
        """The correction as a plain dict."""
        return {"bias": [float(b) for b in self.bias], "method": self.method}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogitCorrection:
        """The correction back from ``to_dict``."""
        return cls(np.asarray(d["bias"], dtype=np.float64), str(d["method"]))


def fit_logit_correction(
    logits: np.ndarray, labels: np.ndarray, method: str = "balanced_accuracy", span: float = 6.0
) -> LogitCorrection:
    """Fit the bias on validation ``logits (N, 3)`` and ``labels (N,)`` (masked -1 dropped)."""
    if method not in CORRECTION_METHODS:
        raise ValueError(f"unknown logit correction {method!r}; valid: {CORRECTION_METHODS}")
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    keep = y >= 0
    z, y = z[keep], y[keep]
    if z.ndim != 2 or z.shape[1] != 3:
        raise ValueError(f"logits must be (N, 3), got {z.shape}")
    if method == "none" or len(y) == 0:
        return LogitCorrection(np.zeros(3), "none")
    if method == "prior_match":
        return LogitCorrection(_prior_match(z, y), method)
    return LogitCorrection(_grid_balanced_accuracy(z, y, span), method)


def _prior_match(z: np.ndarray, y: np.ndarray, iters: int = 500) -> np.ndarray:
    target = np.bincount(y, minlength=3) / len(y)
    target = np.maximum(target, 1e-6)
    b = np.zeros(3)
    for _ in range(iters):
        s = z + b
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        step = np.log(target / np.maximum(p.mean(axis=0), 1e-12))
        b += step
        b -= b[1]
        if np.abs(step).max() < 1e-9:
            break
    return b


def _grid_balanced_accuracy(z: np.ndarray, y: np.ndarray, span: float) -> np.ndarray:
    d0, d2 = z[:, 0] - z[:, 1], z[:, 2] - z[:, 1]  # SELL and BUY margins over HOLD
    present = [c for c in range(3) if (y == c).any()]
    best, center, half = (-1.0, 0.0, 0.0), (0.0, 0.0), span
    for _ in range(4):  # coarse-to-fine: 41x41 grids, each 10x finer around the best point
        g0 = center[0] + np.linspace(-half, half, 41)
        g2 = center[1] + np.linspace(-half, half, 41)
        s2 = d2[:, None] + g2[None, :]  # (N, 41): BUY margin for every b2
        for b0 in g0:
            s0 = (d0 + b0)[:, None]
            pred = np.where((s0 > 0) & (s0 >= s2), 0, np.where(s2 > 0, 2, 1))  # (N, 41)
            # balanced accuracy for every b2 at once: mean over present classes of recall
            score = np.mean([(pred[y == c] == c).mean(axis=0) for c in present], axis=0)
            l1 = abs(b0) + np.abs(g2)
            j = int(np.lexsort((l1, -score))[0])  # best score, then smallest |bias|
            if (score[j], -l1[j]) > (best[0], -(abs(best[1]) + abs(best[2]))):
                best = (float(score[j]), float(b0), float(g2[j]))
        center, half = (best[1], best[2]), half / 10.0
    return np.array([best[1], 0.0, best[2]])
