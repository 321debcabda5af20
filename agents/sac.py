"""SAC on a trading preset: ``python -m agents.sac --env btc1h`` (``--help`` for every flag).

Reads top to bottom: parse -> run dir -> seed -> envs -> model -> callbacks -> learn -> save ->
evaluate, like ``agents.ppo``. SAC acts on a continuous target exposure in [-1, 1]
(``env.action: continuous``); SB3's SAC has no discrete head, so ``--warm-start`` (a 3-class
supervised classifier) is refused. Actor and critics each get their own transformer extractor
by default (SB3's default; the critic's extractor then learns from the Q loss only). Each
checkpoint also holds the replay buffer (``agents.replay_state``, plain arrays), so like PPO a
resumed SAC is bit-identical to an uninterrupted run (``agents.resume_state``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from agents import seed_group
from agents.cli import parse
from agents.config import SACHyper
from agents.nan_guard import NonFiniteError
from agents.pipeline import (
    learn,
    load_run_market,
    open_run,
    prepare_training,
    run_validation,
    saved_normaliser,
)
from agents.pretrained_backbone import PretrainedError, pretrained_for
from agents.resume_run import record_resume
from agents.resume_state import run_is_finished
from agents.safe_load import ModelLoadError, cli_exit
from envs.data import DataValidationError
from lab.cli import run_cli
from lab.runtime import seed_everything, set_torch_threads

ALGO = "sac"


def main(argv: list[str] | None = None) -> Path:
    """Train, save and validate one SAC run; returns the run folder."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if seed_group.wants_group(argv):  # --seeds: a seed group (agents.seed_group)
        return seed_group.main(ALGO, argv, SACHyper)
    # 1. parse: resolved config (defaults -> sac.yml -> --config -> flags) or the resumed run's
    inv = parse(ALGO, SACHyper, argv)
    cfg = inv.cfg
    if inv.resume and inv.run_dir and run_is_finished(inv.run_dir, cfg.train.total_timesteps):
        print(
            f"{inv.run_dir}: finished ({cfg.train.total_timesteps} steps, metrics.json written); "
            "nothing to resume (pass a larger --timesteps to train further)"
        )
        raise SystemExit(0)
    if inv.warm_start is not None:
        raise SystemExit(
            "python -m agents.sac: error: --warm-start is PPO only: the supervised classifier "
            "is a 3-way discrete head and SAC acts on a continuous target exposure; use "
            "python -m agents.ppo --warm-start CKPT"
        )
    try:  # a pretrained backbone (agents.pretrained_backbone): its architecture + LoRA
        pretrained = pretrained_for(inv)
    except PretrainedError as err:
        raise cli_exit("python -m agents.sac", err) from None

    # 2. run dir: command.txt, config.yaml, meta.json (or reopen it to resume)
    try:
        run_dir = open_run(inv, argv)
    except ModelLoadError as err:
        raise cli_exit("python -m agents.sac", err) from None
    print(f"run folder: {run_dir}")

    # 3. seed python/numpy/torch; envs and SB3 get cfg.seed explicitly
    seed_everything(cfg.seed)
    threads = set_torch_threads(cfg.train.torch_threads)

    # 4. market: the run's normaliser (resume) or one fitted on the train split
    normaliser = saved_normaliser(run_dir, inv.resume)
    market, normaliser, train_rows, val_rows = load_run_market(cfg, run_dir, normaliser)
    print(f"torch threads {threads}")

    # 5. envs (batched train split, val split for selection), model (fresh, or the last
    #    checkpoint of a resumed run, with its replay buffer) and callbacks
    try:
        training = prepare_training(
            cfg, run_dir, market, train_rows, val_rows, resume=inv.resume, pretrained=pretrained
        )
    except (ModelLoadError, PretrainedError) as err:
        raise cli_exit("python -m agents.sac", err) from None
    record_resume(inv, argv, training)  # resumes.txt, tb/: only once everything has loaded

    # 6. learn (the step count continues on --resume); save final_model.zip, a last checkpoint
    #    and a final val evaluation (best_model.zip)
    try:
        model = learn(training, progress=inv.progress)
    except NonFiniteError as err:  # diverged: one line; the checkpoints written are good ones
        raise cli_exit("python -m agents.sac", err) from None

    # 7. evaluate: deterministic full val-split backtest -> metrics.json + table
    run_validation(cfg, run_dir, model, normaliser)
    seed_group.record_single_run(ALGO, run_dir)  # the trial ledger (lab.ledger)
    return run_dir


if __name__ == "__main__":
    raise SystemExit(run_cli(main, (DataValidationError,)))
