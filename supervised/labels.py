"""Causal SELL/HOLD/BUY labels for the supervised baseline.

Timing (matches the env's default ``fill="next_open"``): the label of decision bar ``t`` is what
the env would earn by deciding on bar t's close, filling at bar t+1's **open** and holding over
bars ``t+1 .. t+h``, marked at bar ``t+h``'s close. So the forward part of a label reads bars
``t+1 .. t+h`` only; with ``entry="next_open"`` (default) it never reads bar ``t``. The optional
``entry="close"`` measures from bar t's close (the env's optimistic ``fill="close"``).
Volatility scaling reads a *trailing* window of bars ``<= t`` (the past, known at decision time).

Masking, never filling: a label is ``MASKED`` (-1) when its forward window is incomplete (the
data ends, or a gap starts a new segment before ``t+h``), when a needed trailing-vol window is
incomplete or crosses a gap, or when a price is not finite.

Label ids follow the env's action order: 0 SELL, 1 HOLD, 2 BUY.

Schemes (``c = cost_bps / 1e4`` is a round-trip cost that raises the bar for BUY and SELL):

* ``threshold``: ``r = close[t+h] / entry - 1`` (simple return). BUY if ``r > thr + c``, SELL if
  ``r < -(thr + c)``, else HOLD. ``thr`` is ``threshold`` (default 1%, the FLAG-TRADER labels), or
  with ``vol_scaled=True`` it is ``vol_mult * sigma_t * sqrt(h)`` where ``sigma_t`` is the trailing
  std of 1-bar log returns over ``vol_window`` bars.
* ``forward_sharpe``: the h forward 1-bar log returns ``r_1 = log(close[t+1]/entry)``,
  ``r_k = log(close[t+k]/close[t+k-1])``; ``m`` their mean, ``s`` their std (ddof=1). BUY if
  ``(m - c/h) / s > k``, SELL if ``(m + c/h) / s < -k``, else HOLD (``s == 0``: sign of the
  cost-adjusted mean decides, zero is HOLD). Needs ``h >= 2``.
* ``triple_barrier`` (Lopez de Prado, AFML ch. 3): barriers at ``entry * (1 + w + c)`` (upper) and
  ``entry * (1 - w - c)`` (lower) with ``w = max(barrier_mult * sigma_t * sqrt(h), min_return)``;
  walking bars t+1..t+h, the first bar whose ``high >= upper`` gives BUY, ``low <= lower`` gives
  SELL. **Tie**: when one bar touches both barriers, OHLC cannot tell which came first, so the
  label is HOLD (ambiguous, never guessed). Time limit reached with no touch: HOLD
  (``vertical="hold"``, default) or the sign of ``close[t+h]/entry - 1`` beyond ``+-c``
  (``vertical="sign"``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from envs.segments import bars_since_segment_start, segment_ids

SELL, HOLD, BUY = 0, 1, 2
MASKED = -1
CLASS_NAMES = ("SELL", "HOLD", "BUY")

_COMMON = {"entry": "next_open", "cost_bps": 0.0}
_DEFAULTS: dict[str, dict[str, Any]] = {
    "threshold": {
        **_COMMON,
        "threshold": 0.01,
        "vol_scaled": False,
        "vol_mult": 1.0,
        "vol_window": 168,
    },
    "forward_sharpe": {**_COMMON, "k": 0.2},
    "triple_barrier": {
        **_COMMON,
        "barrier_mult": 1.0,
        "min_return": 0.0,
        "vol_window": 168,
        "vertical": "hold",
    },
}


@dataclass
class LabelSpec:
    """Which label scheme, its forward horizon in bars, and its parameters (defaults filled in)."""

    scheme: str = "forward_sharpe"
    horizon: int = 6
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.scheme not in _DEFAULTS:
            raise ValueError(
                f"unknown label scheme {self.scheme!r}; valid: {', '.join(sorted(_DEFAULTS))}"
            )
        self.horizon = int(self.horizon)
        min_h = 2 if self.scheme == "forward_sharpe" else 1
        if self.horizon < min_h:
            raise ValueError(
                f"label horizon must be >= {min_h} for {self.scheme}, got {self.horizon}"
            )
        unknown = set(self.params) - set(_DEFAULTS[self.scheme])
        if unknown:
            raise ValueError(
                f"unknown params {sorted(unknown)} for label scheme {self.scheme!r}; "
                f"valid: {sorted(_DEFAULTS[self.scheme])}"
            )
        self.params = {**_DEFAULTS[self.scheme], **self.params}
        if self.params["entry"] not in ("next_open", "close"):
            raise ValueError(f"entry must be 'next_open' or 'close', got {self.params['entry']!r}")
        if self.params.get("vertical", "hold") not in ("hold", "sign"):
            raise ValueError(f"vertical must be 'hold' or 'sign', got {self.params['vertical']!r}")

    @property
    def uses_trailing_vol(self) -> bool:
        """Whether the scheme needs the trailing volatility (vol-scaled or triple barrier)."""
        return self.scheme == "triple_barrier" or bool(self.params.get("vol_scaled", False))

    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LabelSpec:
        """The spec back from ``to_dict``."""
        return cls(scheme=d["scheme"], horizon=d["horizon"], params=dict(d.get("params", {})))


def trailing_log_vol(close: np.ndarray, segment: np.ndarray, window: int) -> np.ndarray:
    """Std (ddof=1) of the last ``window`` 1-bar log returns ending at bar t; NaN if incomplete.

    Uses closes ``t-window .. t`` only, all in t's segment (never across a gap).
    """
    if window < 2:
        raise ValueError(f"vol_window must be >= 2, got {window}")
    n = len(close)
    lr = np.zeros(n)
    lr[1:] = np.log(close[1:] / close[:-1])
    lr[1:][segment[1:] != segment[:-1]] = 0.0  # masked below; keeps cumsums finite
    bad = ~np.isfinite(lr)
    lr[bad] = 0.0
    c1 = np.concatenate([[0.0], np.cumsum(lr)])
    c2 = np.concatenate([[0.0], np.cumsum(lr * lr)])
    cb = np.concatenate([[0], np.cumsum(bad)])
    out = np.full(n, np.nan)
    t = np.arange(window, n)
    s1 = c1[t + 1] - c1[t + 1 - window]
    s2 = c2[t + 1] - c2[t + 1 - window]
    var = np.maximum((s2 - s1 * s1 / window) / (window - 1), 0.0)
    ok = (bars_since_segment_start(segment)[t] >= window) & (cb[t + 1] - cb[t + 1 - window] == 0)
    out[t[ok]] = np.sqrt(var[ok])
    return out


def make_labels(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    segment: np.ndarray,
    spec: LabelSpec,
) -> np.ndarray:
    """Label per decision bar (int64: 0 SELL, 1 HOLD, 2 BUY, -1 MASKED). Arrays are (T,)."""
    o, hi_, lo_, c = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close))
    seg = np.asarray(segment, dtype=np.int64)
    n, h, p = len(c), spec.horizon, spec.params
    if not all(len(a) == n for a in (o, hi_, lo_, seg)):
        raise ValueError("open, high, low, close and segment must have the same length")
    labels: np.ndarray = np.full(n, MASKED, dtype=np.int64)
    m = n - h  # decision bars 0..m-1 have bars t+1..t+h in the data
    if m <= 0:
        return labels
    t = np.arange(m)
    valid = seg[t + h] == seg[t]  # segments are contiguous: same id at t and t+h => no gap between
    entry = o[t + 1] if p["entry"] == "next_open" else c[t]
    fwd = np.stack([c[t + k] for k in range(1, h + 1)], axis=1)  # (m, h) closes t+1..t+h
    valid &= np.isfinite(entry) & (entry > 0) & np.isfinite(fwd).all(axis=1)
    cost = float(p["cost_bps"]) / 1e4
    sigma: np.ndarray | None = None
    if spec.uses_trailing_vol:
        sigma = trailing_log_vol(c, seg, int(p["vol_window"]))[t]
        valid &= np.isfinite(sigma)
        sigma = np.where(np.isfinite(sigma), sigma, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.scheme == "threshold":
            r = fwd[:, -1] / entry - 1.0
            thr = (
                float(p["vol_mult"]) * _trailing(sigma) * np.sqrt(h)
                if p["vol_scaled"]
                else float(p["threshold"])
            )
            lab = np.where(r > thr + cost, BUY, np.where(r < -(thr + cost), SELL, HOLD))
        elif spec.scheme == "forward_sharpe":
            prev = np.concatenate([entry[:, None], fwd[:, :-1]], axis=1)
            rets = np.log(fwd / prev)  # (m, h) forward 1-bar log returns from the fill price
            mean, std = rets.mean(axis=1), rets.std(axis=1, ddof=1)
            up, dn = mean - cost / h, mean + cost / h
            k = float(p["k"])
            pos = std > 0
            buy = np.where(pos, up / np.where(pos, std, 1.0) > k, up > 0)
            sell = np.where(pos, dn / np.where(pos, std, 1.0) < -k, dn < 0)
            lab = np.where(buy, BUY, np.where(sell, SELL, HOLD))
        else:
            lab = _triple_barrier(entry, hi_, lo_, fwd[:, -1], t, h, _trailing(sigma), cost, p)
    labels[t[valid]] = lab[valid]
    return labels


def _trailing(sigma: np.ndarray | None) -> np.ndarray:
    """The trailing volatility a vol-scaled scheme needs (``LabelSpec.uses_trailing_vol``)."""
    if sigma is None:
        raise ValueError("this label scheme needs the trailing volatility (uses_trailing_vol)")
    return sigma


def _triple_barrier(
    entry: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    last_close: np.ndarray,
    t: np.ndarray,
    h: int,
    sigma: np.ndarray,
    cost: float,
    p: dict[str, Any],
) -> np.ndarray:
    """First-touch labels for decision bars ``t`` (see module docstring for the rule and ties)."""
    width = np.maximum(float(p["barrier_mult"]) * sigma * np.sqrt(h), float(p["min_return"]))
    upper, lower = entry * (1.0 + width + cost), entry * (1.0 - width - cost)
    lab: np.ndarray = np.full(len(t), HOLD, dtype=np.int64)
    decided: np.ndarray = np.zeros(len(t), dtype=bool)
    for k in range(1, h + 1):
        up, dn = high[t + k] >= upper, low[t + k] <= lower
        new = ~decided & (up | dn)
        lab[new & up & ~dn] = BUY
        lab[new & dn & ~up] = SELL  # new & up & dn: a tie stays HOLD
        decided |= new
    if p["vertical"] == "sign":
        r = last_close / entry - 1.0
        vert = np.where(r > cost, BUY, np.where(r < -cost, SELL, HOLD))
        lab[~decided] = vert[~decided]
    return lab


def labels_for_candles(candles: pd.DataFrame, spec: LabelSpec, freq: str = "1h") -> np.ndarray:
    """``make_labels`` on a cleaned candle frame; segments come from its index (gaps split)."""
    missing = [col for col in ("open", "high", "low", "close") if col not in candles.columns]
    if missing:
        raise ValueError(f"candles lack columns {missing}; need open, high, low, close")
    seg = segment_ids(pd.DatetimeIndex(candles.index), freq)
    return make_labels(
        candles["open"].to_numpy(),
        candles["high"].to_numpy(),
        candles["low"].to_numpy(),
        candles["close"].to_numpy(),
        seg,
        spec,
    )


def class_shares(labels: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """Share of each class among unmasked labels (float64, sums to 1; zeros if none)."""
    lab = np.asarray(labels)
    lab = lab[lab >= 0]
    counts = np.bincount(lab, minlength=n_classes).astype(np.float64)
    return counts / counts.sum() if counts.sum() > 0 else counts


def purge_for_split(
    t: np.ndarray, lo: int, hi: int, horizon: int, embargo_bars: int = 0
) -> np.ndarray:
    """Keep-mask for decision bars ``t`` of the split ``[lo, hi)`` (bar indices into the series).

    * Purge: a sample whose label window ``t+1 .. t+horizon`` reaches bar ``hi`` or later (the
      next split) is removed, i.e. keep only ``t + horizon < hi``.
    * Embargo: the first ``embargo_bars`` decision bars **after** the preceding boundary ``lo`` (on
      the later split's side) are removed, i.e. keep only ``t >= lo + embargo_bars``; they sit right
      after the previous split's last labels, whose windows are serially correlated with them.
      With chronological train/val/test this trims the start of val and test (and harmlessly of
      train, whose first bars are feature warm-up anyway).

    Samples outside ``[lo, hi)`` are dropped too. Returns bool (len(t),).
    """
    if horizon < 0 or embargo_bars < 0:
        raise ValueError(f"horizon and embargo_bars must be >= 0, got {horizon}, {embargo_bars}")
    t = np.asarray(t, dtype=np.int64)
    return (t >= lo + embargo_bars) & (t + horizon < hi)
