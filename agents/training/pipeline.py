"""The steps PPO and SAC share, in the order ``main`` calls them.

open_run -> (seed, market) -> save_normaliser -> make_envs -> model -> make_callbacks /
restore_eval_history -> (resume_state.record_resume) -> learn -> finish_training ->
run_validation. Each function does one step and says which files it writes.

``train_ppo(cfg, run_dir, market, train_rows, val_rows)`` is the in-process training function:
envs on any market and row ranges, a fresh, warm-started or resumed model, callbacks, learn,
save. ``agents.ppo.main`` calls it on the preset's named train/val splits (in two halves,
``prepare_training`` + ``learn``, so a test can inspect the model before it learns) and
``evaluate.walkforward.learn_rl`` on a walk-forward fold's rows.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from agents.acting.safe_load import preflight
from agents.algorithms import ALGOS
from agents.resume.checkpoints import CHECKPOINT_DIR, AtomicCheckpointCallback, latest_checkpoint
from agents.resume.state import (
    EVAL_TMP,
    PublishEvaluations,
    attach_callbacks,
    restore_run_state,
)
from agents.training import multimarket as mm
from agents.training.callbacks import ParamCountCallback, TradingMetricsCallback
from agents.training.cli import Invocation
from agents.training.config import RunConfig
from agents.training.config_checks import check_market_layout
from agents.training.models import build_model, load_model, lora_parameter_count, parameter_counts
from agents.training.nan_guard import NanGuardCallback
from agents.training.selection import ValBacktestSelection, val_backtest_score
from agents.training.validation import summary_lines, validation_backtest, validation_summary
from agents.training.vec_env import SB3BatchedTradingEnv
from agents.transfer.pretrained_backbone import (
    LoadedPretrained,
    PretrainedError,
    pretrained_into,
    refreeze_pretrained,
)
from agents.transfer.warm_start import (
    CriticWarmupCallback,
    LoadedWarmStart,
    actor_parameters,
    refreeze,
    warm_start_into,
)
from backtest.table import format_table, write_metrics
from envs import MarketData, load_market
from envs.marketspec import market_record
from envs.normalisers import load_run_normaliser
from envs.presets import get_preset
from envs.registry import split_range
from lab.atomic import atomic_save, atomic_write_json
from lab.ledger_returns import save_run_returns
from lab.rundir import create_run_dir

EVAL_DIR = "eval"


def open_run(inv: Invocation, argv: list[str]) -> Path:
    """Create the run folder (command.txt, config.yaml, meta.json) or reopen it for --resume.

    ``argv`` are the flags after the algorithm's command (``AlgoSpec.command``). A resume only checks the
    checkpoint here and writes nothing: ``agents.resume.record.record_resume`` records it once
    the model, its state and the data have loaded.
    """
    cfg = inv.cfg
    command = [*ALGOS[cfg.algo].command, *argv]
    if inv.resume:
        assert inv.run_dir is not None

        found = latest_checkpoint(inv.run_dir)
        if found is not None:  # refuse a corrupt or crafted checkpoint before loading anything
            preflight(found[0], cfg)
        return inv.run_dir
    run_dir = create_run_dir(
        env=mm.run_label(cfg),  # the market, or runs/<m1>_<m2>/ for several
        algo=cfg.algo,
        seed=cfg.seed,
        config=cfg.to_dict(),
        data_files=mm.data_files(cfg),
        run_dir=inv.run_dir,
        argv=command,
        # meta.json, written once: the market (spec, bar, splits, sha256 of every file) and the
        # starting weights
        meta={"market": market_record(cfg.env_name), **start_weights(cfg), **mm.markets_meta(cfg)},
    )
    return run_dir


def start_weights(cfg: RunConfig) -> dict[str, Any]:
    """The warm-start and pretrained checkpoints' paths and sha256, for ``meta.json``
    (config.yaml has them in its sections): a run's starting weights are part of its
    provenance."""
    out = {}
    for key in ("warm_start", "pretrained"):
        section = getattr(cfg, key, None)
        if section is not None and section.checkpoint:
            out[key] = {
                "checkpoint": str(Path(section.checkpoint).resolve()),
                "sha256": section.checkpoint_sha256,
            }
    return out


def save_normaliser(run_dir: Path, normaliser: Any) -> Path:
    """``normaliser.json``: the train-fitted feature normaliser, so evaluation reuses it (not
    rewritten when it already holds this normaliser: a resume changes nothing)."""
    path = run_dir / "normaliser.json"
    if path.is_file() and json.loads(path.read_text()) == json.loads(
        json.dumps(normaliser.to_dict())
    ):
        return path
    return atomic_write_json(path, normaliser.to_dict())


def saved_normaliser(run_dir: Path, resume: bool) -> Any:
    """A resumed run reuses its normaliser.json (a several-market run its normalisers.json); a
    fresh run (None) fits one on the train split."""
    return load_run_normaliser(run_dir) if resume else None


class AtomicBestModelCallback(BaseCallback):
    """Run by EvalCallback on a new best mean reward: ``best_model.zip`` atomically, plus
    ``eval/best.json`` (step and mean reward) so a resumed run knows the bar to beat."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(verbose=0)
        self.run_dir = run_dir

    def _on_step(self) -> bool:
        atomic_save(self.run_dir / "best_model.zip", lambda p: self.model.save(p))
        parent = self.parent
        assert isinstance(parent, EvalCallback)
        atomic_write_json(
            self.run_dir / EVAL_DIR / "best.json",
            {"num_timesteps": self.num_timesteps, "mean_reward": float(parent.best_mean_reward)},
        )
        return True


def make_callbacks(
    cfg: RunConfig,
    run_dir: Path,
    eval_env: VecEnv,
    first: list[BaseCallback] | None = None,
    select_on_val_split: bool = True,
) -> tuple[CallbackList, EvalCallback, AtomicCheckpointCallback]:
    """``first`` (e.g. the critic warm-up), trading scalars, parameter counts, val evaluation
    (best_model.zip), checkpoints.

    Frequencies in the config count env steps across all envs; SB3 callbacks count VecEnv
    steps, hence the division by ``n_envs``.
    """
    n = cfg.env.n_envs
    # best_model.zip by the val-backtest metric the run reports (agents.training.selection); runs whose
    # selection rows are not the preset's val split (walk-forward folds) keep SB3's mean reward
    score = val_backtest_score(cfg, run_dir) if select_on_val_split else None
    selection = (
        None
        if score is None
        else ValBacktestSelection(run_dir / EVAL_DIR, run_dir, cfg.train.select_metric, score)
    )
    after_eval = CallbackList(
        [PublishEvaluations(run_dir / EVAL_DIR), *([selection] if selection else [])]
    )
    eval_cb = EvalCallback(
        eval_env,
        callback_on_new_best=None if selection else AtomicBestModelCallback(run_dir),
        n_eval_episodes=cfg.train.n_eval_episodes,
        eval_freq=max(1, cfg.train.eval_freq // n),
        log_path=str(run_dir / EVAL_DIR / EVAL_TMP),  # published atomically after each eval
        callback_after_eval=after_eval,
        best_model_save_path=None,  # saved atomically by AtomicBestModelCallback
        deterministic=True,
        verbose=0,
    )
    ckpt_cb = AtomicCheckpointCallback(
        run_dir / CHECKPOINT_DIR, cfg.train.checkpoint_freq, keep=cfg.train.keep_checkpoints
    )
    guard = NanGuardCallback(run_dir)
    callbacks = CallbackList(
        [guard, *(first or []), ParamCountCallback(), _trading_metrics(cfg), eval_cb, ckpt_cb]
    )
    ckpt_cb.state_callbacks = [callbacks, *callbacks.callbacks]  # counters in the resume state
    eval_cb.selection = selection  # type: ignore[attr-defined]  # restored on --resume
    return callbacks, eval_cb, ckpt_cb


def restore_eval_history(eval_cb: EvalCallback, run_dir: Path, upto: int | None = None) -> None:
    """On --resume: reload ``eval/evaluations.npz`` so the new run appends to it and a new
    best_model.zip must beat the best mean reward seen before the kill. Evaluations after
    step ``upto`` (the checkpoint) are dropped: the resumed run redoes them identically."""
    npz = run_dir / EVAL_DIR / "evaluations.npz"
    if not npz.is_file():
        return
    with np.load(npz, allow_pickle=False) as data:
        keep = [i for i, t in enumerate(data["timesteps"]) if upto is None or int(t) <= upto]
        eval_cb.evaluations_timesteps = [int(data["timesteps"][i]) for i in keep]
        eval_cb.evaluations_results = [list(data["results"][i]) for i in keep]
        eval_cb.evaluations_length = [list(data["ep_lengths"][i]) for i in keep]
    if keep:
        eval_cb.best_mean_reward = float(np.max(np.mean(eval_cb.evaluations_results, axis=1)))


def final_evaluation(eval_cb: EvalCallback, model: BaseAlgorithm) -> None:
    """Evaluate the final weights on val unless the last evaluation was at this very step, so
    every run has a best_model.zip and its last eval/ point is the final model."""
    if eval_cb.evaluations_timesteps and eval_cb.evaluations_timesteps[-1] == model.num_timesteps:
        return
    eval_cb.eval_freq = 1
    eval_cb.on_step()


def finish_training(
    model: BaseAlgorithm, run_dir: Path, ckpt_cb: AtomicCheckpointCallback, eval_cb: EvalCallback
) -> None:
    """final_model.zip and a last checkpoint (atomically), a final val evaluation."""
    atomic_save(run_dir / "final_model.zip", lambda p: model.save(p))
    ckpt_cb.save()
    final_evaluation(eval_cb, model)


def run_validation(
    cfg: RunConfig, run_dir: Path, model: BaseAlgorithm, normaliser: Any
) -> dict[str, Any]:
    """Deterministic pass over the whole val split for the final and best models (plus
    buy-and-hold): ``metrics.json`` and a printed table."""
    models: dict[str, Any] = {"final": model}
    best_json = run_dir / EVAL_DIR / "best.json"
    # the same weights only on-policy: an off-policy algorithm (SAC, TQC) evaluates inside its
    # rollout, before that step's gradient update, so its best_model.zip at the final step is
    # not final_model.zip and is backtested on its own
    best_is_final = (
        not ALGOS[cfg.algo].replay_buffer
        and best_json.is_file()
        and json.loads(best_json.read_text())["num_timesteps"] == model.num_timesteps
    )
    if (run_dir / "best_model.zip").is_file() and not best_is_final:
        models["best"] = load_model(
            cfg.algo,
            run_dir / "best_model.zip",
            device=str(model.device),
            cfg=cfg,
            spaces=(model.observation_space, model.action_space),
            n_features=model.policy_kwargs["features_extractor_kwargs"]["n_features"],
        )
    kept: dict[str, Any] = {}
    results = validation_backtest(cfg, models, normaliser, split="val", keep=kept)
    val_bt = kept.get(f"{cfg.algo}_best") or kept[f"{cfg.algo}_final"]  # what the ledger records
    save_run_returns(run_dir, val_bt.returns, val_bt.timestamps)
    if best_is_final:  # the same weights: one backtest, reported under both names
        results = {
            f"{cfg.algo}_final": results[f"{cfg.algo}_final"],
            f"{cfg.algo}_best": results[f"{cfg.algo}_final"],
            "buy_and_hold": results["buy_and_hold"],
        }
    summary = validation_summary(cfg, run_dir, results)
    others = mm.other_markets_validation(cfg, models, normaliser, results)  # several markets
    write_metrics(
        run_dir / "metrics.json",
        results,
        {
            "split": "val",
            "env": cfg.env_name,
            "algo": cfg.algo,
            "seed": cfg.seed,
            "num_timesteps": int(model.num_timesteps),
            "periods_per_year": get_preset(cfg.env_name).periods_per_year,
            **summary,  # collapse per policy, the verdict, the next command
            **others,  # markets, mean_val, selection
        },
    )
    print(format_table(results, f"validation backtest ({cfg.env_name}, val split, deterministic)"))
    mm.print_market_tables(cfg, others)
    print(summary_lines(summary))
    return results


def load_run_market(
    cfg: RunConfig, run_dir: Path, normaliser: Any = None
) -> tuple[MarketData, Any, tuple[int, int], tuple[int, int]]:
    """The run's market, normaliser and train/val rows; writes normaliser.json.

    ``normaliser``: a given one (warm start: the checkpoint's; resume: the run's), else one is
    fitted on the train split's valid rows only.
    """
    if mm.is_multi(cfg):  # every market's train rows, then every market's val rows
        return mm.load_run_markets(cfg, run_dir, normaliser)[:4]
    t0 = time.perf_counter()
    env = cfg.env
    market, normaliser = load_market(
        cfg.env_name, env.feature_set, env.window, normaliser, env.context, env.daily_window
    )
    save_normaliser(run_dir, normaliser)
    train_rows = split_range(market, cfg.env_name, "train")
    val_rows = split_range(market, cfg.env_name, "val")
    print(
        f"data ready in {time.perf_counter() - t0:.1f}s: {market.n_features} features, "
        f"train rows {train_rows}, val rows {val_rows}"
    )
    return market, normaliser, train_rows, val_rows


# --------------------------------------------------------------------------- in-process training
def make_envs(
    cfg: RunConfig,
    market: MarketData,
    train_rows: tuple[int, int],
    val_rows: tuple[int, int],
    start_groups: Callable[[np.ndarray], list[np.ndarray]] | None = None,
) -> tuple[VecMonitor, VecMonitor]:
    """The training VecEnv (``env.n_envs`` accounts on ``train_rows``, env i seeded
    ``cfg.seed + i``, with ``env.randomise``) and the model-selection VecEnv
    (``n_eval_episodes`` accounts on ``val_rows``, re-seeded ``cfg.seed + 10_000`` at every
    evaluation so scores compare; never randomised), both under VecMonitor, with the config's
    env options. ``start_groups``: several markets' start bars by market (``market_weights:
    equal`` draws a market first)."""
    options = cfg.env.env_options()
    train_env = SB3BatchedTradingEnv(
        market, cfg.env.n_envs, train_rows, seed=cfg.seed, randomise=cfg.env.randomise, **options
    )
    if start_groups is not None and train_env.randomise.market_weights == "equal":
        train_env.start_groups = start_groups(train_env.tables.starts)
    eval_seed = cfg.seed + 10_000
    eval_env = SB3BatchedTradingEnv(
        market,
        max(1, cfg.train.n_eval_episodes),
        val_rows,
        seed=eval_seed,
        reseed_every_reset=eval_seed,
        **options,
    )
    return VecMonitor(train_env), VecMonitor(eval_env)


@dataclass
class Training:
    """A model ready to learn, with its envs, callbacks and run folder (``prepare_training``)."""

    cfg: RunConfig
    run_dir: Path
    model: BaseAlgorithm
    train_env: VecEnv
    eval_env: VecEnv
    callbacks: CallbackList
    eval_cb: EvalCallback
    ckpt_cb: AtomicCheckpointCallback
    resume: bool = False

    def close(self) -> None:
        """Close the train and eval envs."""
        self.train_env.close()
        self.eval_env.close()


def _is_preset_val(cfg: RunConfig, market: MarketData, val_rows: tuple[int, int]) -> bool:
    """Whether ``val_rows`` are the preset's named val split (what run_validation reports)."""
    try:
        return tuple(split_range(market, cfg.env_name, "val")) == tuple(val_rows)
    except Exception:  # a market without the preset's splits (walk-forward folds)
        return False


def prepare_training(
    cfg: RunConfig,
    run_dir: Path,
    market: MarketData,
    train_rows: tuple[int, int],
    val_rows: tuple[int, int],
    *,
    warm: LoadedWarmStart | None = None,
    resume: bool = False,
    log: Callable[[str], None] = print,
    pretrained: LoadedPretrained | None = None,
    start_groups: Callable[[np.ndarray], list[np.ndarray]] | None = None,
    select_on_val: bool | None = None,
) -> Training:
    """Envs -> model (fresh, warm-started from ``warm``, or the last checkpoint of ``run_dir``
    when ``resume``) -> callbacks. Nothing is learned yet (see ``learn``).

    A warm start (``cfg.warm_start.checkpoint`` set, ``warm`` loaded by
    ``agents.transfer.warm_start.prepare_warm_start``) freezes the base and adds the critic warm-up
    callback; a resumed warm-started run freezes again (flags are not saved in a zip).
    ``select_on_val``: whether ``val_rows`` are the named val split(s) the run reports (None:
    detected for one market); ``start_groups``: see ``make_envs``.
    """
    if cfg.pretrained.checkpoint and pretrained is None and not resume:
        raise PretrainedError(  # never train from scratch while the config names a backbone
            f"pretrained.checkpoint {cfg.pretrained.checkpoint} is set but was not loaded: "
            "only python -m agents.ppo/agents.sac load a pretrained backbone"
        )
    train_env, eval_env = make_envs(cfg, market, train_rows, val_rows, start_groups)
    warm_started = cfg.algo == "ppo" and bool(cfg.warm_start.checkpoint)
    if resume:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from")
        model = load_model(
            cfg.algo,
            found[0],
            env=train_env,
            device=cfg.train.device,
            tensorboard_log=run_dir / "tb",
            cfg=cfg,
            n_features=market.n_features,
        )
        if warm_started:
            refreeze(model, cfg)
        if cfg.pretrained.checkpoint:
            refreeze_pretrained(model, cfg)
        log(f"resuming from {found[0].name} at {model.num_timesteps} steps")
    else:
        model = build_model(cfg, train_env, market.n_features, tensorboard_log=run_dir / "tb")
        if warm is not None:
            summary = warm_start_into(model, warm, cfg)
            log(
                f"warm start from {warm.path} (sha256 {warm.sha256[:12]}...): logit bias "
                f"{[round(b, 3) for b in summary['logit_bias']]}, "
                f"{len(summary['trainable'])} trainable tensors"
            )
        if pretrained is not None:
            names = pretrained_into(model, pretrained, cfg)
            log(
                f"pretrained backbone {pretrained.path} (sha256 {pretrained.sha256[:12]}...): "
                f"{len(names)} trainable tensors"
            )
    first: list[BaseCallback] = []
    if warm_started and cfg.warm_start.critic_warmup_steps > 0:
        first.append(
            CriticWarmupCallback(actor_parameters(model.policy), cfg.warm_start.critic_warmup_steps)
        )
    on_val = _is_preset_val(cfg, market, val_rows) if select_on_val is None else select_on_val
    callbacks, eval_cb, ckpt_cb = make_callbacks(cfg, run_dir, eval_env, first, on_val)
    if cfg.train.select_metric != "mean_reward" and not on_val:
        log("selection rows are not the preset's val split: best_model.zip by mean reward")
    if resume:
        restore_eval_history(eval_cb, run_dir, upto=model.num_timesteps)
        if eval_cb.selection is not None:  # type: ignore[attr-defined]
            eval_cb.selection.restore(model.num_timesteps)  # type: ignore[attr-defined]
        log(restore_run_state(run_dir, model, ckpt_cb))
    total, trainable = parameter_counts(model)
    log(
        f"policy parameters: {total:,} total, {trainable:,} trainable, {lora_parameter_count(model):,} LoRA"
    )
    return Training(cfg, run_dir, model, train_env, eval_env, callbacks, eval_cb, ckpt_cb, resume)


def learn(t: Training, progress: bool = False, log: Callable[[str], None] = print) -> BaseAlgorithm:
    """Learn up to ``train.total_timesteps`` (continuing the step count on resume), then
    ``finish_training`` (final_model.zip, last checkpoint, final val evaluation); closes the envs."""
    model, cfg = t.model, t.cfg
    remaining = max(0, cfg.train.total_timesteps - model.num_timesteps)
    t0 = time.perf_counter()
    if remaining > 0:
        model.learn(
            total_timesteps=remaining,
            callback=t.callbacks,
            tb_log_name=cfg.algo,
            reset_num_timesteps=not t.resume,
            progress_bar=progress,
        )
    else:  # killed after training (e.g. in the final validation): finish from the checkpoint
        attach_callbacks(t.callbacks, model)
    elapsed = time.perf_counter() - t0
    log(
        f"trained to {model.num_timesteps} steps in {elapsed:.0f}s "
        f"({remaining / max(elapsed, 1e-9):.0f} steps/s)"
    )
    finish_training(model, t.run_dir, t.ckpt_cb, t.eval_cb)
    t.close()
    return model


def train_ppo(
    cfg: RunConfig,
    run_dir: Path,
    market: MarketData,
    train_rows: tuple[int, int],
    val_rows: tuple[int, int],
    *,
    normaliser: Any = None,
    warm: LoadedWarmStart | None = None,
    resume: bool = False,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> tuple[BaseAlgorithm, Path]:
    """Train ``cfg``'s model on ``market`` rows ``train_rows``, selecting on ``val_rows``, into
    the existing ``run_dir`` (normaliser.json when ``normaliser`` is given, tb/, checkpoints/,
    eval/, best_model.zip, final_model.zip). Returns the final model and the run folder."""
    check_market_layout(cfg, market)
    if normaliser is not None:
        save_normaliser(run_dir, normaliser)
    training = prepare_training(
        cfg, run_dir, market, train_rows, val_rows, warm=warm, resume=resume, log=log
    )
    return learn(training, progress=progress, log=log), run_dir


def _trading_metrics(cfg: RunConfig) -> TradingMetricsCallback:
    """Training-time trading scalars annualised with the market's bar size."""
    return TradingMetricsCallback(periods_per_year=get_preset(cfg.env_name).periods_per_year)
