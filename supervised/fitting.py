"""The supervised training core: samples from the data, the epoch loop, validation.

Selection is on a VALIDATION TRADING METRIC, never accuracy: after each epoch the post-hoc logit
correction is fitted on val, the corrected argmax policy is backtested over the val bars with
``backtest.proxy`` (env timing, fees, slippage, funding) and the epoch with the best Sharpe
is kept (early stopping after ``patience`` epochs without improvement).

Samples: train = decision bars of the train split with ``obs_ok``, a label, and a label window
that does not reach val (``purge_for_split``); val metrics = same for val, also dropping the first
``embargo_bars`` val bars. The val backtest covers every val bar (positions forced flat where no
observation is possible), because a trading period has no embargo.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from envs.features import FEATURE_SETS
from envs.marketspec import is_market
from envs.params import EnvParams
from envs.presets import PRESETS, get_preset
from lab.config import Rule, check_rules, doc
from policies import make_config
from supervised.data import SupervisedData
from supervised.decision import DecisionRule, class_probs
from supervised.decision_fit import Market, RuleFit, fit_rule
from supervised.diagnostics import ClassifierReport, classifier_report
from supervised.env_backtest import env_backtest
from supervised.labels import HOLD, LabelSpec, make_labels, purge_for_split
from supervised.logit_correction import CORRECTION_METHODS, LogitCorrection, fit_logit_correction
from supervised.losses import LOSS_NAMES, class_prior, make_loss
from supervised.model import Classifier, WindowSamples, build_samples, predict_logits
from supervised.nan_guard import check_batch
from supervised.reporting import epoch_line, epoch_row, log_epoch

_ENV_DEFAULTS = EnvParams()
LABEL_SCHEMES = ("threshold", "forward_sharpe", "triple_barrier")


@dataclass
class FitConfig:
    """Everything a supervised run depends on (saved as config.yaml)."""

    env: str = field(default="btc1h", metadata=doc("data preset"))
    feature_set: str = field(
        default="core17",
        metadata=doc(
            "envs.features set; must match the env used for warm start", choices=tuple(FEATURE_SETS)
        ),
    )
    window: int = field(default=32, metadata=doc("observation window in bars, as in the env"))
    preset: str = field(default="cpu", metadata=doc("policies transformer preset"))
    model_overrides: dict[str, Any] = field(
        default_factory=dict, metadata=doc("TransformerConfig fields")
    )
    labels: str = field(
        default="forward_sharpe",
        metadata=doc("label scheme (supervised.labels)", choices=LABEL_SCHEMES),
    )
    horizon: int = field(default=6, metadata=doc("label horizon in bars"))
    label_params: dict[str, Any] = field(
        default_factory=dict, metadata=doc("see supervised.labels")
    )
    class_weights: str = field(
        default="logit_adjusted",
        metadata=doc("class-imbalance remedy of the loss", choices=LOSS_NAMES),
    )
    loss_params: dict[str, float] = field(
        default_factory=dict, metadata=doc("gamma, alpha_power, tau")
    )
    correction: str = field(
        default="balanced_accuracy",
        metadata=doc("post-hoc logit correction fitted on val", choices=CORRECTION_METHODS),
    )
    epochs: int = field(
        default=8, metadata=doc("training epochs (at most; early stopping may end sooner)")
    )
    batch_size: int = field(default=256, metadata=doc("training batch size, samples"))
    lr: float = field(
        default=1e-3, metadata=doc("AdamW peak learning rate, cosine-decayed to 0 over all steps")
    )
    weight_decay: float = field(default=0.01, metadata=doc("AdamW weight decay"))
    patience: int = field(
        default=3, metadata=doc("epochs without a better val Sharpe before stopping")
    )
    embargo_bars: int = field(
        default=24, metadata=doc("val bars dropped from val *classification* metrics after train")
    )
    # Costs: the env's own defaults (envs.params.EnvParams), for the selection backtest, the env
    # backtest and the labels' round-trip cost (unless label_params sets cost_bps): same costs
    # everywhere. Recorded in config.yaml and in the checkpoint.
    fee_bps: float = field(
        default=_ENV_DEFAULTS.fee_bps, metadata=doc("per unit of notional traded, bps")
    )
    slippage_bps: float = field(
        default=_ENV_DEFAULTS.slippage_bps, metadata=doc("per unit of notional traded, bps")
    )
    funding: bool = field(
        default=_ENV_DEFAULTS.funding, metadata=doc("charge perpetual funding on positions")
    )
    max_train_samples: int | None = field(
        default=None, metadata=doc("keep only the last N train samples (quick runs)")
    )
    max_val_bars: int | None = field(
        default=None, metadata=doc("keep only the first N val bars (quick runs)")
    )
    seed: int = field(default=0, metadata=doc("seed of torch, numpy and the env"))
    threads: int | None = field(
        default=None, metadata=doc("torch intra-op threads (None: 1, see lab.runtime)")
    )

    # what each field must be (lab.config.check_rules); choices live in the field metadata
    RULES: ClassVar[dict[str, Rule]] = {
        "env": (
            is_market,
            f"a data preset ({', '.join(sorted(PRESETS))}), a candle file or a catalog entry",
        ),
        "window": (lambda v: 1 <= v <= 4096, "from 1 to 4096 bars"),
        "horizon": (lambda v: v >= 1, ">= 1 bar"),
        "epochs": (lambda v: v >= 1, ">= 1"),
        "batch_size": (lambda v: v >= 1, ">= 1"),
        "lr": (lambda v: v > 0, "> 0"),
        "weight_decay": (lambda v: v >= 0, ">= 0"),
        "patience": (lambda v: v >= 0, ">= 0"),
        "embargo_bars": (lambda v: v >= 0, ">= 0"),
        "fee_bps": (lambda v: v >= 0, ">= 0 bps"),
        "slippage_bps": (lambda v: v >= 0, ">= 0 bps"),
        "max_train_samples": (lambda v: v >= 1, ">= 1 (or unset)"),
        "max_val_bars": (lambda v: v >= 1, ">= 1 (or unset)"),
        # 100000 threads exhausted the memory (a malloc crash, not an error line)
        "threads": (lambda v: 1 <= v <= 256, "from 1 to 256 (or unset)"),
    }

    def __post_init__(self) -> None:
        check_rules(self, self.RULES)

    def costs(self) -> dict[str, Any]:
        """The cost settings, as env options (``fee_bps``, ``slippage_bps``, ``funding``)."""
        return {
            "fee_bps": float(self.fee_bps),
            "slippage_bps": float(self.slippage_bps),
            "funding": bool(self.funding),
        }

    def label_cost_bps(self) -> float:
        """Round-trip cost the labels must beat: enter and exit, fee + slippage each way."""
        return 2.0 * (float(self.fee_bps) + float(self.slippage_bps))


@dataclass
class Prepared:
    """Data, labels and the train/val samples of one classifier run."""

    data: SupervisedData
    spec: LabelSpec
    labels: np.ndarray
    train: WindowSamples
    val: WindowSamples
    val_range: tuple[int, int]  # decision bars [lo, hi) of the val backtest
    prior: np.ndarray  # train label prior


def prepare(cfg: FitConfig, data: SupervisedData) -> Prepared:
    """Labels, purged/embargoed samples and the train prior."""
    spec = LabelSpec(
        cfg.labels, cfg.horizon, {"cost_bps": cfg.label_cost_bps(), **cfg.label_params}
    )
    d = data
    labels = make_labels(d.open, d.high, d.low, d.close, d.segment, spec)
    tlo, thi = d.splits["train"]
    vlo, vhi = d.splits["val"]
    # the backtest holds decision bar t's position over bar t+1: the last decision bar is
    # vhi - 2 so that it holds over val's last bar vhi - 1, never over the first test bar
    # (the env's split does the same)
    vhi = min(vhi, len(d.close)) - 1
    if cfg.max_val_bars:
        vhi = min(vhi, vlo + int(cfg.max_val_bars))
    t_tr = np.arange(tlo, thi)
    train = build_samples(
        d.features,
        d.obs_ok,
        labels,
        tlo,
        thi,
        d.window,
        keep=purge_for_split(t_tr, tlo, thi, spec.horizon, 0),
    )
    if cfg.max_train_samples and len(train) > cfg.max_train_samples:
        k = int(cfg.max_train_samples)
        train = WindowSamples(train.features, train.t[-k:], train.labels[-k:], train.window)
    t_va = np.arange(vlo, vhi)
    val = build_samples(
        d.features,
        d.obs_ok,
        labels,
        vlo,
        vhi,
        d.window,
        keep=purge_for_split(t_va, vlo, vhi, spec.horizon, cfg.embargo_bars),
    )
    return Prepared(d, spec, labels, train, val, (vlo, vhi), class_prior(train.labels))


def _val_logits(prep: Prepared, model: torch.nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Raw logits ``(n, 3)`` over the val backtest bars (0 where no trade is possible) and the
    can-trade mask ``obs_ok & can_step`` (n,)."""
    d, (lo, hi) = prep.data, prep.val_range
    t = np.arange(lo, hi)
    ok = d.obs_ok[lo:hi] & d.can_step[lo:hi]
    logits = np.zeros((hi - lo, 3))
    if ok.any():
        decide = WindowSamples(d.features, t[ok], np.zeros(int(ok.sum()), np.int64), d.window)
        logits[ok] = predict_logits(model, decide)
    return logits, ok


def val_market(prep: Prepared, cfg: FitConfig) -> Market:
    """The fast-backtest arrays of the val bars, at the config's costs."""
    d, (lo, hi) = prep.data, prep.val_range
    funding = d.funding[lo : hi + 1] if cfg.funding else np.zeros(hi + 1 - lo)
    return Market(
        d.open[lo : hi + 1],
        d.close[lo : hi + 1],
        d.obs_ok[lo:hi] & d.can_step[lo:hi],
        funding,
        cfg.fee_bps,
        cfg.slippage_bps,
        get_preset(d.env).periods_per_year,
    )


def backtest_logits(
    prep: Prepared, model: torch.nn.Module, bias: np.ndarray, cfg: FitConfig
) -> tuple[dict[str, float], np.ndarray]:
    """Backtest the argmax of ``logits + bias`` over the val bars; returns (metrics, actions)."""
    logits, ok = _val_logits(prep, model)
    actions = np.where(ok, (logits + bias).argmax(axis=1), HOLD).astype(np.int64)
    return val_market(prep, cfg).backtest(actions), actions


def val_probs(
    prep: Prepared, model: torch.nn.Module, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``softmax(logits + bias)`` ``(n, 3)`` float64 over the val bars, and the can-trade mask."""
    logits, ok = _val_logits(prep, model)
    # float32 logits + float32 bias, as evaluate's ClassifierActor adds them, then float64 softmax
    z = logits.astype(np.float32) + np.asarray(bias, dtype=np.float32)
    return class_probs(z), ok


def fit_val_rule(
    prep: Prepared, model: torch.nn.Module, bias: np.ndarray, cfg: FitConfig
) -> RuleFit:
    """Fit the cost-aware decision rule on the val bars (``supervised.decision_fit``)."""
    probs, _ = val_probs(prep, model, bias)
    return fit_rule(probs, val_market(prep, cfg))


@dataclass
class Evaluation:
    """One val evaluation: raw and corrected reports, the correction and trading figures."""

    raw: ClassifierReport  # argmax of raw logits on val samples
    corrected: ClassifierReport  # argmax of logits + correction bias
    correction: LogitCorrection
    trading_raw: dict[str, float]
    trading: dict[str, float]  # corrected policy: the selection metric
    actions: np.ndarray  # corrected actions over the val backtest bars

    def summary(self) -> dict[str, Any]:
        """The reports and trading figures as plain values."""
        return {
            "raw": self.raw.to_dict(),
            "corrected": self.corrected.to_dict(),
            "correction": self.correction.to_dict(),
            "trading_raw": self.trading_raw,
            "trading": self.trading,
        }


def evaluate(model: torch.nn.Module, prep: Prepared, cfg: FitConfig) -> Evaluation:
    """Val reports raw and after the fitted logit correction, and their proxy backtests."""
    logits = predict_logits(model, prep.val)
    y = prep.val.labels
    corr = fit_logit_correction(logits, y, cfg.correction)
    trading_raw, _ = backtest_logits(prep, model, np.zeros(3), cfg)
    trading, actions = backtest_logits(prep, model, corr.bias, cfg)
    return Evaluation(
        classifier_report(logits, y),
        classifier_report(corr.apply(logits), y),
        corr,
        trading_raw,
        trading,
        actions,
    )


def env_metrics(
    prep: Prepared,
    model: torch.nn.Module,
    bias: np.ndarray,
    cfg: FitConfig,
    rule: DecisionRule | None = None,
    keep: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The policy stepped through the real env over the val split: argmax(logits + bias), or
    ``rule`` applied to ``softmax(logits + bias)`` and the env's own observation at each bar
    (``keep``: see ``supervised.env_backtest.env_backtest``)."""
    d, (lo, hi) = prep.data, prep.val_range
    full: np.ndarray = np.full(len(d.close), HOLD, dtype=np.int64)
    if rule is None or rule.kind == "argmax":
        _, actions = backtest_logits(prep, model, bias, cfg)
        full[lo:hi] = actions
        return env_backtest(d, full, "val", keep=keep, **cfg.costs())
    probs, ok = val_probs(prep, model, bias)
    by_bar = np.full((len(d.close), 3), np.nan)
    by_bar[lo:hi][ok] = probs[ok]
    return env_backtest(d, full, "val", probs_by_bar=by_bar, rule=rule, keep=keep, **cfg.costs())


@dataclass
class FitResult:
    """The selected model, its epoch, its val evaluation and the per-epoch history."""

    model: Classifier
    best_epoch: int
    evaluation: Evaluation
    history: list[dict[str, Any]]


def build_model(cfg: FitConfig, n_features: int) -> Classifier:
    """A fresh classifier of the configured size for ``n_features`` inputs."""
    return Classifier(
        make_config(cfg.preset, window=cfg.window, n_features=n_features, **cfg.model_overrides)
    )


def _train_epoch(
    model: Classifier,
    prep: Prepared,
    cfg: FitConfig,
    rng: np.random.Generator,
    loss_fn: Any,
    opt: torch.optim.Optimizer,
    sched: Any,
    writer: Any,
    step: int,
) -> tuple[float, int, int]:
    """One pass over the shuffled train samples; (summed loss, correct predictions, step)."""
    model.train()
    n = len(prep.train)
    order = rng.permutation(n)
    tot, correct = 0.0, 0
    for i in range(0, n, cfg.batch_size):
        idx = order[i : i + cfg.batch_size]
        obs, y = prep.train.obs(idx), prep.train.targets(idx)
        logits = model(obs)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        check_batch(step, loss, logits, model, cfg.lr)  # stop at the first NaN/inf
        tot += loss.item() * len(idx)
        correct += int((logits.argmax(1) == y).sum())
        if writer is not None and step % 20 == 0:
            writer.add_scalar("train/loss", loss.item(), step)
            writer.add_scalar("train/lr", sched.get_last_lr()[0], step)
    return tot, correct, step


def fit(
    cfg: FitConfig, prep: Prepared, writer: Any = None, log: Callable[[str], None] = print
) -> FitResult:
    """Train with AdamW + cosine decay; keep the epoch with the best corrected val Sharpe."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = build_model(cfg, prep.data.n_features)
    loss_fn = make_loss(cfg.class_weights, prep.prior, **cfg.loss_params)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(prep.train)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = max(1, steps_per_epoch * cfg.epochs)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total))
    )
    best: tuple[float, int, dict[str, torch.Tensor], Evaluation] | None = None
    history: list[dict[str, Any]] = []
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        loss_sum, correct, step = _train_epoch(
            model, prep, cfg, rng, loss_fn, opt, sched, writer, step
        )
        ev = evaluate(model, prep, cfg)
        row = epoch_row(epoch, step, loss_sum / n, correct / n, ev)
        history.append(row)
        if writer is not None:
            log_epoch(writer, row, ev)
        log(epoch_line(row, cfg.epochs, ev))
        if best is None or ev.trading["score"] > best[0]:  # a flat epoch's nan Sharpe ranks 0
            best = (ev.trading["score"], epoch, copy.deepcopy(model.state_dict()), ev)
        elif epoch - best[1] >= cfg.patience:
            log(
                f"early stop: no better val Sharpe for {cfg.patience} epochs (best epoch {best[1]})"
            )
            break
    assert best is not None
    model.load_state_dict(best[2])
    model.eval()
    return FitResult(model, best[1], best[3], history)
