"""TensorBoard scalars and confusion-matrix figures for the supervised trainer.

Scalar tags (``prefix`` is ``val`` / ``val_corrected`` / ``train``):
``{prefix}/accuracy, balanced_accuracy, macro_f1, recall_{SELL,HOLD,BUY},
pred_share_{SELL,HOLD,BUY}, label_prior_{SELL,HOLD,BUY}, mean_entropy, pred_entropy,
mean_logit_{SELL,HOLD,BUY}, collapse`` (1 when the alarm fires) and ``trading/...`` for the
backtest figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from backtest.collapse import collapse_name
from backtest.verdict import evaluate_command, training_verdict, verdict_block
from supervised.diagnostics import CLASS_NAMES, ClassifierReport
from supervised.env_backtest import env_backtest

BUY = 2  # the env's action order: 0 SELL, 1 HOLD, 2 BUY


def log_report(writer: Any, prefix: str, rep: ClassifierReport, step: int) -> None:
    """Write every diagnostic of ``rep`` as TensorBoard scalars under ``prefix/``."""
    if writer is None:
        return
    for name in ("accuracy", "balanced_accuracy", "macro_f1", "mean_entropy", "pred_entropy"):
        value = getattr(rep, name)
        if np.isfinite(value):
            writer.add_scalar(f"{prefix}/{name}", value, step)
    for c, cname in enumerate(CLASS_NAMES):
        if np.isfinite(rep.recall[c]):
            writer.add_scalar(f"{prefix}/recall_{cname}", rep.recall[c], step)
        writer.add_scalar(f"{prefix}/pred_share_{cname}", rep.pred_shares[c], step)
        writer.add_scalar(f"{prefix}/label_prior_{cname}", rep.label_prior[c], step)
        writer.add_scalar(f"{prefix}/mean_logit_{cname}", rep.mean_logit[c], step)
    writer.add_scalar(f"{prefix}/collapse", float(rep.alarm is not None), step)


def log_trading(writer: Any, prefix: str, metrics: dict[str, float], step: int) -> None:
    """Trading figures into TensorBoard under ``trading/<prefix>_*`` (no writer: nothing)."""
    if writer is None:
        return
    for k, v in metrics.items():
        writer.add_scalar(f"trading/{prefix}_{k}", float(v), step)


def confusion_figure(rep: ClassifierReport, title: str) -> Any:
    """A matplotlib figure of the confusion matrix (row-normalised colours, counts printed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm: np.ndarray = rep.confusion.astype(float)
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(3):
        for j in range(3):
            ax.text(
                j,
                i,
                f"{int(cm[i, j])}\n{frac[i, j]:.0%}",
                ha="center",
                va="center",
                color="white" if frac[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(3), CLASS_NAMES)
    ax.set_yticks(range(3), CLASS_NAMES)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def save_confusion(
    rep: ClassifierReport,
    path: Path,
    title: str,
    writer: Any = None,
    tag: str = "val/confusion",
    step: int = 0,
) -> None:
    """Write ``path`` (.png) and a ``.txt`` next to it; add the figure to TensorBoard too."""
    import matplotlib.pyplot as plt

    path.with_suffix(".txt").write_text(title + "\n" + rep.confusion_text() + "\n")
    fig = confusion_figure(rep, title)
    fig.savefig(path, dpi=110)
    if writer is not None:
        writer.add_figure(tag, fig, step)
    plt.close(fig)


def epoch_row(epoch: int, step: int, loss: float, accuracy: float, ev: Any) -> dict[str, Any]:
    """One epoch's history row: train loss/accuracy and the val ``Evaluation`` ``ev``."""
    return {
        "epoch": epoch,
        "step": step,
        "train_loss": loss,
        "train_accuracy": accuracy,
        "val_accuracy": ev.raw.accuracy,
        "val_balanced_accuracy": ev.raw.balanced_accuracy,
        "val_sharpe_raw": ev.trading_raw["sharpe"],
        "val_sharpe": ev.trading["sharpe"],
        "pred_shares_raw": ev.raw.pred_shares.round(3).tolist(),
        "pred_shares": ev.corrected.pred_shares.round(3).tolist(),
        "alarm_raw": ev.raw.alarm,
        "alarm": ev.corrected.alarm,
    }


def log_epoch(writer: Any, row: dict[str, Any], ev: Any) -> None:
    """The epoch's scalars into TensorBoard at the row's step."""
    step = row["step"]
    writer.add_scalar("train/epoch_loss", row["train_loss"], step)
    writer.add_scalar("train/epoch_accuracy", row["train_accuracy"], step)
    log_report(writer, "val", ev.raw, step)
    log_report(writer, "val_corrected", ev.corrected, step)
    log_trading(writer, "val_raw", ev.trading_raw, step)
    log_trading(writer, "val", ev.trading, step)


def epoch_line(row: dict[str, Any], epochs: int, ev: Any) -> str:
    """The epoch's one-line log."""
    return (
        f"epoch {row['epoch']}/{epochs}: loss {row['train_loss']:.4f} acc "
        f"{row['train_accuracy']:.3f} | val acc {ev.raw.accuracy:.3f} bal "
        f"{ev.raw.balanced_accuracy:.3f} shares(S/H/B) {row['pred_shares_raw']} -> corrected "
        f"{row['pred_shares']} | val Sharpe raw {ev.trading_raw['sharpe']:+.2f} corrected "
        f"{ev.trading['sharpe']:+.2f}"
    )


def buy_and_hold_val(data: Any, val_range: tuple[int, int], costs: dict[str, Any]) -> dict:
    """Buy-and-hold through the real env on the bars the model's val backtest decides on
    (``val_range``; flat elsewhere, as the model is), with the same costs."""
    lo, hi = val_range
    actions: np.ndarray = np.full(
        len(data.close), 1, dtype=np.int64
    )  # HOLD outside the decision bars
    actions[lo:hi] = BUY
    return env_backtest(data, actions, "val", **costs)


def val_period(data: Any, val_range: tuple[int, int]) -> str:
    """``val 2023-01-01 to 2023-12-31``: the dates of the first and last decision bar."""
    lo, hi = val_range
    if hi <= lo:
        return "val"
    return f"val {str(data.index[lo])[:10]} to {str(data.index[hi - 1])[:10]}"


def val_verdict(
    period: str, env: str, run_dir: Path, traded: dict[str, Any], bench: dict[str, Any], name: str
) -> dict[str, Any]:
    """The verdict of the policy the model trades with (``traded``: its env metrics on val)
    against buy-and-hold (``bench``), its collapse, and the next command: for metrics.json."""
    collapse = collapse_name(traded.get("constant_position"))
    if collapse is None and not traded.get("n_trades"):
        collapse = "always flat"
    return {
        "verdict": training_verdict(
            period, name, traded.get("sharpe"), bench.get("sharpe"), collapse
        ),
        "collapse": collapse,
        "period": period,
        "buy_and_hold_sharpe": bench.get("sharpe"),
        "next_command": evaluate_command(env, run_dir),
    }


def verdict_text(summary: dict[str, Any]) -> str:
    """The last lines of a training command (``backtest.verdict.verdict_block``)."""
    return verdict_block(summary["verdict"], summary["next_command"])
