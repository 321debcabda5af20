"""SAC on a trading preset: ``python -m agents.sac --env btc1h`` (``--help`` for every flag).

Reads top to bottom: parse -> run dir -> seed -> envs -> model -> callbacks -> learn -> save ->
evaluate, like ``agents.ppo``. SAC acts on a continuous target exposure in [-1, 1]
(``env.action: continuous``); SB3's SAC has no discrete head, so ``--warm-start`` (a 3-class
supervised classifier) is refused. Actor and critics each get their own transformer extractor
by default (SB3's default; the critic's extractor then learns from the Q loss only). A resumed
SAC restarts with an empty replay buffer (buffers are not checkpointed: hundreds of MB).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from agents.callbacks import latest_checkpoint
from agents.cli import parse
from agents.config import SACHyper
from agents.models import build_model, load_model, parameter_counts, set_torch_threads
from agents.pipeline import (
    finish_training,
    make_callbacks,
    open_run,
    restore_eval_history,
    run_validation,
    save_normaliser,
    saved_normaliser,
)
from agents.rundir import seed_everything
from agents.vec_env import make_eval_env, make_train_env

ALGO = "sac"


def main(argv: list[str] | None = None) -> Path:
    """Train, save and validate one SAC run; returns the run folder."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # 1. parse: resolved config (defaults -> sac.yml -> --config -> flags) or the resumed run's
    inv = parse(ALGO, SACHyper, argv)
    cfg = inv.cfg
    if inv.warm_start is not None:
        raise SystemExit(
            "python -m agents.sac: error: --warm-start is PPO only: the supervised classifier "
            "is a 3-way discrete head and SAC acts on a continuous target exposure; use "
            "python -m agents.ppo --warm-start CKPT"
        )

    # 2. run dir: command.txt, config.yaml, meta.json (or reopen it to resume)
    run_dir = open_run(inv, argv)
    print(f"run folder: {run_dir}")

    # 3. seed python/numpy/torch; envs and SB3 get cfg.seed explicitly below
    seed_everything(cfg.seed)
    threads = set_torch_threads(cfg.train.torch_threads)

    # 4. envs: batched train split (VecMonitor) + val split for model selection
    t0 = time.perf_counter()
    train_env = make_train_env(cfg, saved_normaliser(run_dir, inv.resume))
    normaliser = train_env.unwrapped.normaliser
    eval_env = make_eval_env(cfg, normaliser)
    save_normaliser(run_dir, normaliser)
    n_features = train_env.unwrapped.n_features
    print(f"data + envs ready in {time.perf_counter() - t0:.1f}s: {cfg.env.n_envs} train envs, "
          f"obs {train_env.observation_space.shape}, {n_features} features; torch threads {threads}")

    # 5. model: fresh, or the last checkpoint of a resumed run (empty replay buffer)
    if inv.resume:
        ckpt_path, _ = latest_checkpoint(run_dir) or (None, 0)
        model = load_model(ALGO, ckpt_path, env=train_env, device=cfg.train.device,
                           tensorboard_log=run_dir / "tb")
        print(f"resuming from {ckpt_path.name} at {model.num_timesteps} steps")
    else:
        model = build_model(cfg, train_env, n_features, tensorboard_log=run_dir / "tb")
    total, trainable = parameter_counts(model)
    print(f"policy parameters: {total:,} total, {trainable:,} trainable")

    # 6. callbacks: trading/ scalars, param counts, val eval -> best_model.zip, checkpoints
    callbacks, eval_cb, ckpt_cb = make_callbacks(cfg, run_dir, eval_env)
    if inv.resume:
        restore_eval_history(eval_cb, run_dir)

    # 7. learn (the step count continues on --resume)
    remaining = max(0, cfg.train.total_timesteps - model.num_timesteps)
    t0 = time.perf_counter()
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=callbacks, tb_log_name=ALGO,
                    reset_num_timesteps=not inv.resume, progress_bar=inv.progress)
    elapsed = time.perf_counter() - t0
    print(f"trained to {model.num_timesteps} steps in {elapsed:.0f}s "
          f"({remaining / max(elapsed, 1e-9):.0f} steps/s)")

    # 8. save: final_model.zip, a last checkpoint, a final val evaluation (best_model.zip)
    finish_training(model, run_dir, ckpt_cb, eval_cb)

    # 9. evaluate: deterministic full val-split backtest -> metrics.json + table
    run_validation(cfg, run_dir, model, normaliser)
    train_env.close()
    eval_env.close()
    return run_dir


if __name__ == "__main__":
    main()
