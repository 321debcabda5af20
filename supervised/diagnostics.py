"""Classifier diagnostics that make class collapse visible (pure numpy).

The FLAG-TRADER failure this guards against: 88% accuracy from predicting HOLD 89% of the time,
or 99% SELL after inverse-frequency weights. Accuracy hides both; predicted-class shares against
the label prior, per-class recall, balanced accuracy and macro-F1 do not. ``collapse_alarm``
fires when any class takes more than ``hi`` (90%) or less than ``lo`` (2%) of the predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supervised.decision import class_probs

CLASS_NAMES = ("SELL", "HOLD", "BUY")
COLLAPSE_HI = 0.90
COLLAPSE_LO = 0.02


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 3) -> np.ndarray:
    """``cm[i, j]`` = count of true class i predicted as j (int64, (C, C))."""
    yt, yp = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    return np.bincount(yt * n_classes + yp, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    """Recall per true class; NaN for a class with no true samples."""
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 3) -> float:
    """Mean recall over the classes present in ``y_true``."""
    rec = per_class_recall(confusion_matrix(y_true, y_pred, n_classes))
    return float(np.nanmean(rec)) if np.isfinite(rec).any() else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    """Unweighted mean F1 over classes present in truth or prediction (F1 = 0 if never right)."""
    tp = np.diag(cm).astype(np.float64)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support + predicted) > 0
    f1 = np.where(present, 2 * tp / np.maximum(support + predicted, 1), np.nan)
    return float(np.nanmean(f1)) if present.any() else float("nan")


def collapse_alarm(
    pred_shares: np.ndarray, hi: float = COLLAPSE_HI, lo: float = COLLAPSE_LO
) -> str | None:
    """An alarm string if any predicted class share is > ``hi`` or < ``lo``; None otherwise."""
    shares = np.asarray(pred_shares, dtype=np.float64)
    bad = [
        f"{CLASS_NAMES[c]} {100 * s:.1f}% {'>' if s > hi else '<'} {100 * (hi if s > hi else lo):.0f}%"
        for c, s in enumerate(shares)
        if s > hi or s < lo
    ]
    if not bad:
        return None
    dist = ", ".join(f"{CLASS_NAMES[c]} {100 * s:.1f}%" for c, s in enumerate(shares))
    return f"COLLAPSE: predicted-class share out of [{100 * lo:.0f}%, {100 * hi:.0f}%]: " + (
        "; ".join(bad) + f" (predicted distribution: {dist})"
    )


def collapse_banner(alarm: str) -> str:
    """A loud multi-line banner for logs."""
    bar = "!" * min(max(len(alarm), 40), 100)
    return f"\n{bar}\n!!! {alarm}\n{bar}\n"


@dataclass
class ClassifierReport:
    """Everything needed to see a collapse; shares and recalls are in SELL, HOLD, BUY order."""

    n: int
    accuracy: float
    balanced_accuracy: float
    macro_f1: float
    recall: np.ndarray
    pred_shares: np.ndarray
    label_prior: np.ndarray
    mean_entropy: float  # mean per-sample softmax entropy, nats (max log 3 = 1.0986)
    pred_entropy: float  # entropy of the predicted-class shares, nats
    mean_logit: np.ndarray
    confusion: np.ndarray
    alarm: str | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain values (nan as None)."""

        def f(x: float) -> float | None:
            return None if not np.isfinite(x) else float(x)

        return {
            "n": self.n,
            "accuracy": f(self.accuracy),
            "balanced_accuracy": f(self.balanced_accuracy),
            "macro_f1": f(self.macro_f1),
            "recall": [f(x) for x in self.recall],
            "pred_shares": [float(x) for x in self.pred_shares],
            "label_prior": [float(x) for x in self.label_prior],
            "mean_entropy": f(self.mean_entropy),
            "pred_entropy": f(self.pred_entropy),
            "mean_logit": [float(x) for x in self.mean_logit],
            "confusion": self.confusion.tolist(),
            "alarm": self.alarm,
        }

    def confusion_text(self) -> str:
        """The confusion matrix as an aligned text table (rows = true, columns = predicted)."""
        head = "true\\pred " + "".join(f"{c:>8}" for c in CLASS_NAMES) + "  recall"
        rows = [
            f"{CLASS_NAMES[i]:<10}"
            + "".join(f"{v:>8d}" for v in self.confusion[i])
            + (f"  {self.recall[i]:.3f}" if np.isfinite(self.recall[i]) else "     n/a")
            for i in range(len(CLASS_NAMES))
        ]
        return "\n".join([head, *rows])


def classifier_report(
    logits: np.ndarray,
    y_true: np.ndarray,
    hi: float = COLLAPSE_HI,
    lo: float = COLLAPSE_LO,
) -> ClassifierReport:
    """Diagnostics of argmax predictions from ``logits (N, 3)`` against ``y_true (N,)``.

    Masked labels (-1) are dropped. The label prior is the one of these (e.g. validation) labels.
    """
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64)
    if z.ndim != 2 or z.shape[0] != len(y):
        raise ValueError(f"logits {z.shape} and labels {y.shape} do not match")
    keep = y >= 0
    z, y = z[keep], y[keep]
    n_classes = z.shape[1]
    pred = z.argmax(axis=1)
    cm = confusion_matrix(y, pred, n_classes)
    n = len(y)
    shares = np.bincount(pred, minlength=n_classes) / max(n, 1)
    prior = np.bincount(y, minlength=n_classes) / max(n, 1)
    p = class_probs(z) if n else np.zeros((0, n_classes))
    ent = -(p * np.log(np.clip(p, 1e-30, None))).sum(axis=1)
    nz = shares[shares > 0]
    return ClassifierReport(
        n=n,
        accuracy=float((pred == y).mean()) if n else float("nan"),
        balanced_accuracy=float(np.nanmean(per_class_recall(cm))) if n else float("nan"),
        macro_f1=macro_f1(cm),
        recall=per_class_recall(cm),
        pred_shares=shares,
        label_prior=prior,
        mean_entropy=float(ent.mean()) if n else float("nan"),
        pred_entropy=float(-(nz * np.log(nz)).sum()),
        mean_logit=z.mean(axis=0) if n else np.full(n_classes, np.nan),
        confusion=cm,
        alarm=collapse_alarm(shares, hi, lo) if n else None,
    )
