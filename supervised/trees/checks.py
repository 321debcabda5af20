"""Checks that make a broken tree model fail loudly (one line each).

* ``label_direction``: on the train samples, the forward return over the label window
  (``close[t+h] / open[t+1] - 1``, the labels' own entry and exit) must be higher on average after
  BUY labels than after SELL labels, positive after BUY and negative after SELL. Inverted labels
  (the 5-minute system's failure) break all three.
* ``val_classes``: every class predicted on val, and no class above the collapse threshold
  (``supervised.diagnostics.COLLAPSE_HI``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from supervised.diagnostics import CLASS_NAMES, COLLAPSE_HI, collapse_alarm
from supervised.labels import BUY, SELL


def forward_returns(
    open_: np.ndarray, close: np.ndarray, t: np.ndarray, horizon: int
) -> np.ndarray:
    """``close[t+h] / open[t+1] - 1`` per decision bar ``t`` (the labels' next-open entry)."""
    t = np.asarray(t, dtype=np.int64)
    return close[t + horizon] / open_[t + 1] - 1.0


def label_direction(labels: np.ndarray, fwd_return: np.ndarray) -> dict[str, Any]:
    """Mean forward return per label class and whether the direction is right (``ok``)."""
    y = np.asarray(labels)
    r = np.asarray(fwd_return, dtype=np.float64)
    means = {
        CLASS_NAMES[c]: (float(r[y == c].mean()) if (y == c).any() else float("nan"))
        for c in range(3)
    }
    up, down = means[CLASS_NAMES[BUY]], means[CLASS_NAMES[SELL]]
    ok = bool(np.isfinite(up) and np.isfinite(down) and up > 0 > down and up > down)
    msg = (
        f"label direction {'ok' if ok else 'FAILED'}: mean forward return after BUY "
        f"{100 * up:+.3f}%, after HOLD {100 * means['HOLD']:+.3f}%, after SELL {100 * down:+.3f}%"
    )
    if not ok:
        msg += " (BUY must be followed by a higher price on average, SELL by a lower: inverted labels?)"
    return {"ok": ok, "mean_forward_return": means, "message": msg}


def val_classes(pred: np.ndarray, hi: float = COLLAPSE_HI) -> dict[str, Any]:
    """Predicted-class shares on val; ``ok`` when every class appears and none exceeds ``hi``."""
    p = np.asarray(pred, dtype=np.int64)
    shares = np.bincount(p, minlength=3) / max(len(p), 1)
    missing = [CLASS_NAMES[c] for c in range(3) if shares[c] == 0]
    alarm = collapse_alarm(shares, hi=hi, lo=0.0)
    problems = ([f"class never predicted on val: {', '.join(missing)}"] if missing else []) + (
        [alarm] if alarm else []
    )
    return {
        "ok": not problems,
        "pred_shares": [float(s) for s in shares],
        "missing": missing,
        "message": "; ".join(problems)
        if problems
        else "val classes ok: "
        + ", ".join(f"{CLASS_NAMES[c]} {100 * s:.1f}%" for c, s in enumerate(shares)),
    }
