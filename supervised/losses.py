"""Class-imbalance remedies for the 3-class (SELL/HOLD/BUY) classifier.

Every loss takes ``logits (B, C)`` float and ``target (B,)`` int64 (no masked labels: drop -1
before the loss) and returns the scalar batch mean. Class weights and priors always come from
the **train** labels (``class_prior``), never from validation.

* ``none``: cross-entropy.
* ``inverse``: weighted CE, ``w_c = 1 / prior_c``; ``sqrt``: ``w_c = 1 / sqrt(prior_c)``. Weights
  are scaled so ``sum_c prior_c * w_c = 1`` and the batch loss is PyTorch's weighted mean
  ``sum_i w_{y_i} * ce_i / sum_i w_{y_i}``.
* ``focal`` (Lin et al. 2017): ``-(1 - p_y)^gamma * log p_y`` averaged (optional per-class
  ``alpha`` weights, same weighted mean); ``gamma = 0`` is CE.
* ``logit_adjusted`` (Menon et al. 2021): CE on ``logits + tau * log(prior)`` during training; at
  inference use the **raw** logits, which then estimate the balanced (prior-free) Bayes classifier.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lab.config import ConfigError  # a user's labels/data choice: one line, exit 2

LOSS_NAMES = ("none", "inverse", "sqrt", "focal", "logit_adjusted")


def class_prior(labels: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Label prior (float64, sums to 1) of unmasked labels; error if a class never occurs."""
    lab = np.asarray(labels)
    lab = lab[lab >= 0]
    counts = np.bincount(lab, minlength=n_classes).astype(np.float64)
    if len(lab) == 0 or (counts == 0).any():
        raise ConfigError(
            f"class counts {counts.astype(int).tolist()} (SELL, HOLD, BUY): every class must occur "
            "in the train labels for a prior/weights; change the label threshold or horizon"
        )
    return counts / counts.sum()


def class_weights(prior: np.ndarray, power: float) -> torch.Tensor:
    """``w_c = prior_c ** -power`` scaled so ``sum_c prior_c * w_c = 1`` (float32)."""
    prior = np.asarray(prior, dtype=np.float64)
    w = prior**-power
    w = w / float((prior * w).sum())
    return torch.as_tensor(w, dtype=torch.float32)


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with optional fixed class weights (weighted batch mean)."""

    def __init__(self, weight: torch.Tensor | None = None) -> None:
        super().__init__()
        self.register_buffer("weight", weight if weight is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Class-weighted cross-entropy."""
        return F.cross_entropy(logits, target, weight=self.weight)


class FocalLoss(nn.Module):
    """Focal loss ``-alpha_y (1 - p_y)^gamma log p_y`` (Lin et al. 2017), alpha-weighted mean."""

    def __init__(self, gamma: float = 2.0, alpha: torch.Tensor | None = None) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.register_buffer("alpha", alpha if alpha is not None else None)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Focal loss (optionally class-weighted by ``alpha``)."""
        logp = F.log_softmax(logits, dim=-1).gather(1, target[:, None]).squeeze(1)  # (B,)
        loss = -((1.0 - logp.exp()).clamp_min(0.0) ** self.gamma) * logp
        if self.alpha is None:
            return loss.mean()
        a = self.alpha[target]
        return (a * loss).sum() / a.sum()


class LogitAdjustedLoss(nn.Module):
    """CE on ``logits + tau * log(prior)`` (Menon et al. 2021); inference uses raw logits."""

    def __init__(self, prior: np.ndarray, tau: float = 1.0) -> None:
        super().__init__()
        self.tau = float(tau)
        self.register_buffer("log_prior", torch.as_tensor(np.log(prior), dtype=torch.float32))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the logits shifted by ``tau`` x the log prior."""
        return F.cross_entropy(logits + self.tau * self.log_prior, target)


def make_loss(name: str, class_prior: np.ndarray, **kw: float) -> nn.Module:
    """Build the loss ``name`` (one of ``LOSS_NAMES``) from the TRAIN label prior.

    Keyword options: ``gamma`` (focal, default 2), ``alpha_power`` (focal: class weights
    ``prior^-alpha_power``, default 0 = none), ``tau`` (logit_adjusted, default 1).
    """
    prior = np.asarray(class_prior, dtype=np.float64)
    if prior.ndim != 1 or (prior <= 0).any() or not np.isclose(prior.sum(), 1.0):
        raise ValueError(f"class_prior must be positive and sum to 1, got {prior.tolist()}")
    allowed = {"focal": {"gamma", "alpha_power"}, "logit_adjusted": {"tau"}}.get(name, set())
    extra = set(kw) - allowed
    if name not in LOSS_NAMES:
        raise ValueError(f"unknown loss/class-weights {name!r}; valid: {', '.join(LOSS_NAMES)}")
    if extra:
        raise ValueError(f"options {sorted(extra)} do not apply to loss {name!r}")
    if name == "none":
        return WeightedCrossEntropy()
    if name == "inverse":
        return WeightedCrossEntropy(class_weights(prior, 1.0))
    if name == "sqrt":
        return WeightedCrossEntropy(class_weights(prior, 0.5))
    if name == "focal":
        ap = float(kw.get("alpha_power", 0.0))
        return FocalLoss(float(kw.get("gamma", 2.0)), class_weights(prior, ap) if ap else None)
    return LogitAdjustedLoss(prior, float(kw.get("tau", 1.0)))
