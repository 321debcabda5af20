"""One RL run of any algorithm of ``agents.algorithms``: parse -> (warm start) -> run dir -> seed ->
market -> envs -> model -> callbacks -> learn -> save -> evaluate.

``python -m agents.ppo``, ``python -m agents.sac`` and ``python -m agents <algo>`` all run
``run(algo, argv)``. It trains on the train split with the batched VecEnv, selects on the val split
(best_model.zip), and ends with a deterministic backtest of the whole val split (metrics.json).
The policy is the algorithm's SB3 policy on the transformer extractor
(policies.TransformerExtractor). A warm-startable algorithm (PPO: ``action_net`` sits directly on
the features, the same shape as the supervised classifier's head) takes ``--warm-start
runs/<env>/supervised/<run>/model.pt`` and fine-tunes it FLAG-Trader style (frozen base, LoRA +
heads, critic warm-up; see ``agents.transfer.warm_start``); the others refuse it.

``setup(algo, argv)`` does everything up to a model ready to learn (tests inspect a warm-started
policy there); ``run`` = ``setup`` + ``agents.training.pipeline.learn`` + the validation backtest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.acting.safe_load import ModelLoadError, cli_exit
from agents.algorithms import ALGOS
from agents.experiments import seed_group
from agents.portfolio import train as portfolio_train
from agents.resume.record import record_resume
from agents.resume.state import run_is_finished
from agents.training.cli import Invocation, parse
from agents.training.multimarket import is_multi, load_run_markets
from agents.training.nan_guard import NonFiniteError
from agents.training.pipeline import (
    Training,
    learn,
    load_run_market,
    open_run,
    prepare_training,
    run_validation,
    saved_normaliser,
)
from agents.transfer.pretrained_backbone import PretrainedError, pretrained_for
from agents.transfer.warm_start import LoadedWarmStart, WarmStartError, prepare_warm_start
from lab.runtime import seed_everything, set_torch_threads
from lab.seeds import wants_group

NOT_WARM_STARTABLE = (
    "--warm-start is PPO only: the supervised classifier is a 3-way discrete head and this "
    "algorithm cannot take it as its actor; use python -m agents.ppo --warm-start CKPT"
)


@dataclass
class Session:
    """A parsed invocation with its model built (and warm-started), not yet trained."""

    inv: Invocation
    training: Training
    normaliser: Any
    warm: LoadedWarmStart | None

    @property
    def model(self) -> Any:
        """The SB3 model being trained."""
        return self.training.model

    @property
    def run_dir(self) -> Path:
        """The run folder."""
        return self.training.run_dir


def _fail(algo: str, err: Exception) -> SystemExit:
    """One line on stderr, exit code 2 (a user error: bad checkpoint or run folder)."""
    return cli_exit(ALGOS[algo].prog, err)


def setup(algo: str, argv: list[str]) -> Session:
    """Parse -> warm-start checkpoint -> run dir -> seed -> market -> envs, model, callbacks."""
    # 1. parse: resolved config (defaults -> <algo>.yml -> --config -> flags) or the resumed run's
    inv = parse(algo, ALGOS[algo].hyper, argv)
    cfg = inv.cfg
    if inv.resume and inv.run_dir and run_is_finished(inv.run_dir, cfg.train.total_timesteps):
        print(
            f"{inv.run_dir}: finished ({cfg.train.total_timesteps} steps, metrics.json written); "
            "nothing to resume (pass a larger --timesteps to train further)"
        )
        raise SystemExit(0)

    # 2. warm start: the checkpoint sets the obs layout, extractor and fine-tuning hyperparameters
    #    (before the run dir, so config.yaml records them); a resumed run already has them
    warm = None
    source = inv.warm_start or cfg.warm_start.checkpoint
    if inv.warm_start is not None and not ALGOS[algo].warm_startable:
        raise SystemExit(f"{ALGOS[algo].prog}: error: {NOT_WARM_STARTABLE}")
    if source and not inv.resume:
        try:
            warm = prepare_warm_start(Path(source), cfg)
        except WarmStartError as err:
            raise _fail(algo, err) from None
    try:  # or a pretrained backbone (agents.transfer.pretrained_backbone): its architecture + LoRA
        pretrained = pretrained_for(inv)
    except PretrainedError as err:
        raise _fail(algo, err) from None

    # 3. run dir: command.txt, config.yaml, meta.json (or reopen it to resume)
    try:
        run_dir = open_run(inv, argv)
    except ModelLoadError as err:
        raise _fail(algo, err) from None
    print(f"run folder: {run_dir}")

    # 4. seed python/numpy/torch; envs and SB3 get cfg.seed explicitly
    seed_everything(cfg.seed)
    threads = set_torch_threads(cfg.train.torch_threads)

    # 5. market: the checkpoint's normaliser (warm start), the run's (resume) or fitted on train
    normaliser = warm.normaliser if warm else saved_normaliser(run_dir, inv.resume)
    several: dict[str, Any] = {}  # several markets: start groups, selection on their val splits
    try:
        if is_multi(cfg):
            market, normaliser, train_rows, val_rows, ms = load_run_markets(
                cfg, run_dir, normaliser
            )
            several = {"start_groups": ms.start_groups, "select_on_val": True}
        else:
            market, normaliser, train_rows, val_rows = load_run_market(cfg, run_dir, normaliser)
    except ValueError as err:  # the checkpoint's normaliser vs this feature set/window
        if warm is None:
            raise
        raise _fail(
            algo,
            WarmStartError(
                f"--warm-start {warm.path}: mismatched checkpoint: feature_set "
                f"{cfg.env.feature_set!r} window {cfg.env.window} vs the checkpoint's "
                f"normaliser ({err})"
            ),
        ) from None
    print(f"torch threads {threads}")

    # 6. envs, model (fresh / warm-started / resumed) and callbacks
    try:
        training = prepare_training(
            cfg,
            run_dir,
            market,
            train_rows,
            val_rows,
            warm=warm,
            resume=inv.resume,
            pretrained=pretrained,
            **several,
        )
    except (WarmStartError, PretrainedError, ModelLoadError) as err:
        raise _fail(algo, err) from None
    record_resume(inv, argv, training)  # resumes.txt, tb/: only once everything has loaded
    return Session(inv, training, normaliser, warm)


def run(algo: str, argv: list[str]) -> Path:
    """Train, save and validate one run of ``algo``; returns the run folder (a group folder with
    ``--seeds``)."""
    if portfolio_train.is_universe(argv):  # --env A,B: a portfolio universe (agents.portfolio)
        return portfolio_train.run(algo, argv)
    if wants_group(argv):  # --seeds: a seed group (agents.experiments.seed_group)
        return seed_group.main(algo, argv, ALGOS[algo].hyper)
    session = setup(algo, argv)
    cfg, run_dir = session.training.cfg, session.run_dir

    # 7. learn (the step count continues on --resume); 8. save: final_model.zip, a last
    #    checkpoint, a final val evaluation (best_model.zip)
    try:
        model = learn(session.training, progress=session.inv.progress)
    except NonFiniteError as err:  # diverged: one line; the checkpoints written are good ones
        raise _fail(algo, err) from None

    # 9. evaluate: deterministic full val-split backtest -> metrics.json + table
    run_validation(cfg, run_dir, model, session.normaliser)
    seed_group.record_single_run(algo, run_dir)  # the trial ledger (lab.ledger)
    return run_dir
