"""Actions -> target weights of a portfolio (numpy, batched over accounts).

Two action modes (``mode=``):

* ``"long_only"``: ``Box(0, 1, (N + 1,))``: one score per asset and one for cash. Scores are
  clipped to [0, 1]; assets that are not tradable get 0; the weights are the scores divided by
  their sum (cash included), so ``w_i >= 0`` and ``sum w_i <= 1`` (the rest is cash). All scores 0
  means all cash.
* ``"long_short"``: ``Box(-1, 1, (N,))``: a signed target exposure per asset, clipped to [-1, 1],
  0 for assets that are not tradable, then scaled down (never up) so that the gross exposure
  ``sum |w_i|`` is at most ``gross_cap``. With one asset and ``gross_cap`` 1 this is exactly the
  single env's continuous action (``TradingEnv(action="continuous")``).

How an action becomes those weights (``action_map=``):

* ``"scores"`` (default): as above, actions in [0, 1] (long-only) or [-1, 1] (long/short).
* ``"logits"``: unbounded scores in ``Box(-LOGIT_MAX, LOGIT_MAX)`` for a Gaussian policy.
  Long-only: softmax over the tradable assets' logits and the cash logit (the cash share is what
  the softmax gives cash); long/short: ``tanh`` of each logit, 0 where not tradable, then the
  same gross-exposure cap. ``policies.asset_set.scores_to_weights`` is the same map in torch.
* ``"choice"`` (long-only): ``Discrete(N + 1)``: all in asset i (weight 1; cash when it is not
  tradable), or N = all cash. A categorical policy over the asset scores and the cash logit.
"""

from __future__ import annotations

import numpy as np

MODES = ("long_only", "long_short")
ACTION_MAPS = ("scores", "logits", "choice")
LOGIT_MAX = 10.0  # softmax weights down to e^-20 of the largest: far below any fee's effect


def action_bounds(mode: str, action_map: str) -> tuple[float, float]:
    """(low, high) of every action dimension."""
    if action_map == "logits":
        return -LOGIT_MAX, LOGIT_MAX
    return (0.0, 1.0) if mode == "long_only" else (-1.0, 1.0)


def action_dim(mode: str, n_assets: int) -> int:
    """Length of one action: N + 1 (long_only, with cash) or N (long_short)."""
    return n_assets + 1 if mode == "long_only" else n_assets


def to_weights(
    actions: np.ndarray,
    tradable: np.ndarray,
    mode: str,
    gross_cap: float,
    action_map: str = "scores",
) -> np.ndarray:
    """Target weights (n, N) float64 from actions (n, action_dim) and the tradable mask (n, N).

    Raises ValueError on a non-finite action or a wrong shape (one line naming the shape)."""
    n, n_assets = tradable.shape
    if action_map == "choice":
        return _choice_weights(actions, tradable)
    a = np.asarray(actions, dtype=np.float32)
    want = action_dim(mode, n_assets)
    if a.size != n * want:
        raise ValueError(
            f"portfolio actions have shape {a.shape}: expected ({n}, {want}) for {n_assets} "
            f"assets in mode {mode!r}"
        )
    a = a.reshape(n, want)
    if not np.isfinite(a).all():
        raise ValueError("portfolio actions must be finite numbers")
    if action_map == "logits":
        return _logit_weights(a.astype(np.float64), tradable, mode, gross_cap)
    if mode == "long_only":
        scores = np.clip(a, 0.0, 1.0).astype(np.float64)
        scores[:, :n_assets] *= tradable
        total = scores.sum(axis=1, keepdims=True)
        safe = np.where(total > 0.0, total, 1.0)
        return np.where(total > 0.0, scores[:, :n_assets] / safe, 0.0)
    return _cap_gross(np.clip(a, -1.0, 1.0).astype(np.float64) * tradable, gross_cap)


def _cap_gross(w: np.ndarray, gross_cap: float) -> np.ndarray:
    """Scale each row down (never up) to a gross exposure of at most ``gross_cap``."""
    gross = np.abs(w).sum(axis=1, keepdims=True)
    scale = np.where(gross > gross_cap, gross_cap / np.where(gross > 0.0, gross, 1.0), 1.0)
    return np.where(scale < 1.0, w * scale, w)


def _logit_weights(a: np.ndarray, tradable: np.ndarray, mode: str, gross_cap: float) -> np.ndarray:
    """``action_map="logits"``: masked softmax with cash (long-only) or capped tanh."""
    a = np.clip(a, -LOGIT_MAX, LOGIT_MAX)
    n_assets = tradable.shape[1]
    if mode != "long_only":
        return _cap_gross(np.tanh(a) * tradable, gross_cap)
    ok = np.concatenate([tradable > 0, np.ones((len(a), 1), dtype=bool)], axis=1)
    z = np.where(ok, a, -np.inf)
    e = np.exp(z - z.max(axis=1, keepdims=True))  # cash is always finite: the max is too
    return (e / e.sum(axis=1, keepdims=True))[:, :n_assets]


def keep_within_band(
    weights: np.ndarray,
    previous: np.ndarray,
    tradable: np.ndarray,
    band: float,
    mode: str,
    gross_cap: float,
) -> np.ndarray:
    """Targets (n, N) where each tradable asset within ``band`` of its previous target keeps
    it; an account whose mix would break its limits (long-only: sum > 1; long/short: gross >
    cap) takes the new targets unchanged."""
    keep = (np.abs(weights - previous) < band) & (tradable > 0)
    mixed = np.where(keep, previous, weights)
    if mode == "long_only":
        ok = (mixed.sum(axis=1) <= 1.0 + 1e-12) & (mixed >= 0).all(axis=1)
    else:
        ok = np.abs(mixed).sum(axis=1) <= gross_cap + 1e-12
    return np.where(ok[:, None], mixed, weights)


def _choice_weights(actions: np.ndarray, tradable: np.ndarray) -> np.ndarray:
    """``action_map="choice"``: one-hot weight on the chosen tradable asset (N: cash)."""
    n, n_assets = tradable.shape
    a = np.asarray(actions)
    if a.size != n or not np.all(np.isfinite(a.astype(np.float64))):
        raise ValueError(f"portfolio choice actions have shape {a.shape}: expected ({n},) ints")
    idx = a.reshape(n).astype(np.int64)
    if np.any((idx < 0) | (idx > n_assets)) or np.any(idx != a.reshape(n)):
        raise ValueError(f"a portfolio choice must be an integer in [0, {n_assets}]")
    w = np.zeros((n, n_assets))
    held = idx < n_assets
    w[np.flatnonzero(held), idx[held]] = 1.0
    return w * tradable
