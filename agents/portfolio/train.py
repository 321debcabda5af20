"""PPO on a portfolio universe: ``python -m agents.ppo --env btc1h,eth1h[,path/to/sol.csv.gz]``.

A COMMA-separated ``--env`` (or a folder of candle files, or a catalog entry with ``members:``;
``envs.portfolio.members``) is one universe (``envs.portfolio``): one account allocates across
every member (target weights, per-asset costs and funding). A SPACE-separated ``--env a b`` is
multi-market training of one single-asset policy, a different command.

Reads top to bottom: parse -> universe (each member normalised by its own train fit) -> run
folder -> seed -> batched portfolio env on the TRAIN rows -> PPO with the shared-weight asset
policy (``policies.asset_set.AssetSetPolicy``, ``action_map="logits"``) -> every
``--eval-freq`` steps a deterministic pass over the whole VAL split, the best val Sharpe kept
(``best_policy.pt``) -> ``final_policy.pt`` -> ``metrics.json`` (val summary of the selected
policy, per-asset attribution, every evaluation) -> the trial ledger. The test split is never
touched here: ``python -m evaluate.portfolio --run RUN`` backtests it beside the baselines.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from agents.portfolio.policy import (
    NetAllocator,
    PortfolioPolicySpec,
    finite_or_none,
    save_policy,
)
from backtest.allocation import AllocationBacktest, run_allocation
from envs.portfolio import Universe, load_universe, split_rows
from envs.portfolio import kernel as PK
from envs.portfolio.batched import BatchedPortfolioEnv
from envs.portfolio.env import PortfolioAccounts
from envs.portfolio.members import is_universe_spec, members_of
from envs.portfolio.weights import MODES
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.config import ConfigError
from lab.ledger import append_record, ledger_enabled, make_record
from lab.rundir import create_run_dir, default_run_dir, market_dirname, preset_files
from lab.runtime import seed_everything, set_torch_threads
from policies.asset_set import MIXERS, AssetSetPolicy

PROG = "python -m agents.ppo"
ALGOS_SUPPORTED = ("ppo",)


class SB3PortfolioEnv(BatchedPortfolioEnv, VecEnv):
    """``BatchedPortfolioEnv`` as an SB3 ``VecEnv`` (envs never imports SB3).

    ``excess_scale`` > 0: each TRAINING reward is the portfolio's minus ``excess_scale`` times
    the log return of equal weight over the tradable members on the same bar (close to close).
    That term does not depend on the action, so the policy gradient's expectation is unchanged;
    it removes the members' common noise from the advantages (a control variate). Selection
    and every evaluation use the plain equity."""

    def __init__(self, *args: Any, excess_scale: float = 0.0, **kwargs: Any) -> None:
        BatchedPortfolioEnv.__init__(self, *args, **kwargs)
        self.excess_scale = float(excess_scale)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``BatchedPortfolioEnv.step_wait`` with the equal-weight term taken off."""
        t: np.ndarray = self.accounts.scal[:, PK.P_T].astype(np.int64)  # before the step
        obs, rewards, dones, infos = BatchedPortfolioEnv.step_wait(self)
        if self.excess_scale > 0.0:
            tab = self.accounts.tab
            ok = tab[PK.T_TRADABLE, t]
            now = np.where(ok > 0, tab[PK.T_CLOSE_NOW, t], 1.0)
            ratio = np.where(ok > 0, tab[PK.T_CLOSE_NEXT, t] / now, 1.0)
            mean = (ratio * ok).sum(1) / np.maximum(ok.sum(1), 1.0)
            bench = np.where(ok.sum(1) > 0, np.log(np.where(mean > 0, mean, 1.0)), 0.0)
            rewards = (rewards - self.excess_scale * bench).astype(np.float32)
        return obs, rewards, dones, infos


def is_universe(argv: list[str]) -> bool:
    """True when ``--env`` is one universe (a comma list, a folder or a catalog entry with
    ``members:``; ``envs.portfolio.members``), read by argparse in every form it takes."""
    p = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    p.add_argument("--env", nargs="*", action="extend")
    p.add_argument("--catalog")
    known = p.parse_known_args(argv)[0]
    values = known.env or []
    return len(values) == 1 and is_universe_spec(values[0], known.catalog)


def parse(argv: list[str]) -> argparse.Namespace:
    """The portfolio command line (its own flags; a single-market flag is refused, exit 2)."""
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument(
        "--env",
        required=True,
        help="members, comma-separated (presets, files, keys), or a folder of candle files",
    )
    ap.add_argument("--catalog", default=None, metavar="FILE",
                    help="data catalog YAML for a universe entry (data/catalog.yml)")  # fmt: skip
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timesteps", type=int, default=200_000, help="env steps (all envs)")
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--mode", choices=MODES, default="long_only")
    ap.add_argument("--gross-cap", type=float, default=1.0, help="long_short: max sum |w|")
    ap.add_argument("--mixer", choices=MIXERS, default="mean", help="across assets")
    ap.add_argument(
        "--action",
        choices=("choice", "logits"),
        default="logits",
        help="choice: all in one asset or cash (categorical); logits: weights by a "
        "softmax with a cash logit (Gaussian; long_short: tanh + gross cap)",
    )
    ap.add_argument("--d-model", type=int, default=32, help="per-asset feature width")
    ap.add_argument("--score-gain", type=float, default=1.0, help="fixed factor on the scores")
    ap.add_argument("--feature-set", default="flagtrader60")
    ap.add_argument(
        "--window",
        type=int,
        default=1,
        help="bars per member (flagtrader60 rows hold 24-168 h trends)",
    )
    ap.add_argument("--fee-bps", type=float, default=10.0)
    ap.add_argument("--episode-length", type=int, default=720, help="training episode, bars")
    ap.add_argument("--eval-freq", type=int, default=25_000, help="val pass every N env steps")
    ap.add_argument("--learning-rate", type=float, default=3e-4)
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--ent-coef", type=float, default=0.0)
    ap.add_argument("--log-std-init", type=float, default=-1.0, help="Gaussian on the logits")
    ap.add_argument("--rebalance-band", type=float, default=0.05,
                    help="keep an asset's target while the new one is within this")  # fmt: skip
    ap.add_argument(
        "--excess-reward",
        choices=("equal_weight", "none"),
        default="equal_weight",
        help="train on the return in excess of equal weight (a control variate)",
    )
    ap.add_argument("--run-dir", default=None)
    args = ap.parse_args(argv)
    checks = {
        "--timesteps": args.timesteps >= 1, "--n-envs": 1 <= args.n_envs <= 1024,
        "--d-model": 2 <= args.d_model <= 1024 and args.d_model % 2 == 0,
        "--eval-freq": args.eval_freq >= 1, "--episode-length": args.episode_length >= 2,
        "--gamma": 0.0 < args.gamma <= 1.0, "--learning-rate": 0.0 < args.learning_rate < 1.0,
        "--ent-coef": 0.0 <= args.ent_coef < 10.0, "--gross-cap": 0.0 < args.gross_cap <= 10.0,
        "--fee-bps": 0.0 <= args.fee_bps <= 1000.0, "--window": 1 <= args.window <= 10_000,
        "--log-std-init": -10.0 <= args.log_std_init <= 2.0,
        "--score-gain": 0.0 < args.score_gain <= 100.0,
        "--rebalance-band": 0.0 <= args.rebalance_band < 1.0,
    }  # fmt: skip
    for flag, ok in checks.items():
        if not ok:
            value = getattr(args, flag[2:].replace("-", "_"))
            raise ConfigError(f"{flag} {value!r} is out of range: see {PROG} --env A,B --help")
    if args.action == "choice" and args.mode != "long_only":
        raise ConfigError("--action choice is long-only (all in one asset or cash); use "
                          "--action logits with --mode long_short")  # fmt: skip
    args.members = members_of(args.env, args.catalog)
    return args


def universe_dirname(members: list[str]) -> str:
    """``runs/<a>_<b>_...``: the members' safe folder names joined (also the ledger's market)."""
    return "_".join(market_dirname(m) for m in members)


def run(algo: str, argv: list[str]) -> Path:
    """Train one portfolio run of ``algo`` (PPO only); returns its folder."""
    if algo not in ALGOS_SUPPORTED:
        raise ConfigError(
            f"--env with commas is a portfolio universe, trained by {PROG} only ({algo} is not "
            "supported on it); for one market at a time give --env a single market"
        )
    args = parse(argv)
    universe = load_universe(args.members, args.feature_set, args.window)
    ppy = get_preset(args.members[0]).periods_per_year
    train_rows = split_rows(universe, args.members[0], "train")
    val_rows = split_rows(universe, args.members[0], "val")
    spec = PortfolioPolicySpec(
        members=tuple(args.members), feature_set=args.feature_set, window=args.window,
        n_features=universe.n_features, mode=args.mode, gross_cap=args.gross_cap,
        net={"d_model": args.d_model, "mixer": args.mixer, "score_gain": args.score_gain},
        rebalance_band=args.rebalance_band, action_map=args.action,
    )  # fmt: skip
    run_dir = _open_run(args, argv)
    print(f"run folder: {run_dir}")
    seed_everything(args.seed)
    set_torch_threads(1)
    options = _env_options(args)
    excess = options["reward_scale"] if args.excess_reward == "equal_weight" else 0.0
    venv = SB3PortfolioEnv(universe, args.n_envs, train_rows, seed=args.seed, **options,
                           episode_length=args.episode_length, excess_scale=excess)  # fmt: skip
    model = PPO(
        AssetSetPolicy, venv, learning_rate=args.learning_rate, n_steps=128, batch_size=256,
        n_epochs=4, gamma=args.gamma, gae_lambda=0.9, ent_coef=args.ent_coef, seed=args.seed,
        device="cpu", verbose=0,
        policy_kwargs={"window": args.window, "n_features": universe.n_features,
                       "mixer": args.mixer, "d_model": args.d_model,
                       "log_std_init": args.log_std_init, "score_gain": args.score_gain},
    )  # fmt: skip
    selection = ValSelection(run_dir, spec, universe, val_rows, options, args.eval_freq, ppy)
    model.learn(args.timesteps, callback=selection)
    save_policy(run_dir, model.policy.asset_net, spec, "final")
    metrics = selection.finish(model.num_timesteps)
    _record(args, run_dir, metrics, selection, ppy)
    print(
        f"val Sharpe {_fmt(metrics['val']['sharpe'])} (selected at step "
        f"{metrics['selected_at_step']}); metrics: {run_dir / 'metrics.json'}"
    )
    return run_dir


def _env_options(args: argparse.Namespace) -> dict[str, Any]:
    """The env options shared by training and every val pass (costs, mode, action map)."""
    return {
        "mode": args.mode, "gross_cap": args.gross_cap, "action_map": args.action,
        "fee_bps": args.fee_bps, "reward": "log_return", "reward_scale": 100.0,
        "rebalance_band": args.rebalance_band,
    }  # fmt: skip


def _open_run(args: argparse.Namespace, argv: list[str]) -> Path:
    files = [f for m in args.members for f in preset_files(get_preset(m))]
    config = {**{k: v for k, v in vars(args).items() if k != "members"}, "algo": "ppo"}
    path = args.run_dir or default_run_dir(universe_dirname(args.members), "ppo", args.seed)
    return create_run_dir(
        env=args.env, algo="ppo", seed=args.seed, config=config, data_files=files,
        run_dir=path, argv=["-m", "agents.ppo", *argv],
    )  # fmt: skip


def val_pass(net: Any, spec: PortfolioPolicySpec, universe: Universe, rows: tuple[int, int],
             options: dict[str, Any], name: str) -> AllocationBacktest:  # fmt: skip
    """The deterministic pass of ``net`` over ``rows`` (every run of the split, in order)."""
    acc_options = {k: v for k, v in options.items() if k not in ("reward", "reward_scale")}
    acc = PortfolioAccounts(  # a full pass: no drawdown stop, every run to its end
        universe, 1, rows, episode_length=None, max_drawdown=None, **acc_options
    )
    decide = NetAllocator(net, acc, spec).decide
    return run_allocation(acc, decide, name)


class ValSelection(BaseCallback):
    """Every ``eval_freq`` env steps: a val pass; the best Sharpe's weights -> best_policy.pt."""

    def __init__(self, run_dir: Path, spec: PortfolioPolicySpec, universe: Universe,
                 rows: tuple[int, int], options: dict[str, Any], eval_freq: int,
                 periods_per_year: float) -> None:  # fmt: skip
        super().__init__(verbose=0)
        self.run_dir, self.spec, self.universe, self.rows = run_dir, spec, universe, rows
        self.options, self.eval_freq, self.ppy = options, eval_freq, periods_per_year
        self.history: list[dict[str, Any]] = []
        self.best: tuple[float, int, AllocationBacktest] | None = None
        self._next = eval_freq

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.eval_freq
            self.evaluate(self.num_timesteps)
        return True

    def evaluate(self, step: int) -> None:
        """One val pass; keep it when its Sharpe beats the best so far (NaN never does)."""
        net = self.model.policy.asset_net
        net.eval()
        bt = val_pass(net, self.spec, self.universe, self.rows, self.options, "ppo")
        net.train()
        summary = bt.summary(self.ppy)
        sharpe = summary["sharpe"]
        self.history.append({"step": step, **{k: finite_or_none(v) for k, v in summary.items()}})
        score = sharpe if np.isfinite(sharpe) else -np.inf
        if self.best is None or score > self.best[0]:
            self.best = (score, step, bt)
            save_policy(self.run_dir, net, self.spec, "best")
        print(f"step {step}: val Sharpe {_fmt(sharpe)}", flush=True)

    def finish(self, step: int) -> dict[str, Any]:
        """A last val pass at the end, then ``metrics.json``."""
        if not self.history or self.history[-1]["step"] != step:
            self.evaluate(step)
        assert self.best is not None
        _, best_step, bt = self.best
        metrics = {
            "universe": list(self.spec.members), "split": "val", "selected_at_step": best_step,
            "val": {k: finite_or_none(v) for k, v in bt.summary(self.ppy).items()},
            "attribution": bt.attribution(), "evaluations": self.history,
            "weights_mean": dict(zip(self.spec.members, bt.weights.mean(0).tolist(), strict=True)),
            "policy": asdict(self.spec),
        }  # fmt: skip
        atomic_write_json(self.run_dir / "metrics.json", metrics)
        return metrics


def _record(args: argparse.Namespace, run_dir: Path, metrics: dict[str, Any],
            selection: ValSelection, ppy: float) -> None:  # fmt: skip
    """The run's ledger record (market = the universe), with its per-bar val returns."""
    if not ledger_enabled() or selection.best is None:
        return
    config = {k: v for k, v in vars(args).items() if k not in ("members", "seed", "run_dir")}
    record = make_record(
        market=universe_dirname(args.members), source="run", algo="ppo", config=config,
        seed=args.seed, run_dir=run_dir, val_sharpe=metrics["val"]["sharpe"],
        periods_per_year=ppy, extra={"portfolio": True, "universe": args.members},
    )  # fmt: skip
    bt = selection.best[2]
    append_record(record, val_returns=bt.returns, val_timestamps=bt.timestamps)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:+.2f}"
