"""The command line shared by ``python -m agents.ppo`` and ``python -m agents.sac``.

``parse`` turns argv into a resolved :class:`~agents.training.config.RunConfig` plus what the run must do
with its folder (fresh or resumed). Every user error exits through ``argparse``'s ``error``
(exit code 2, message on stderr) with a message that names the fix.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.algorithms import ALGOS
from agents.resume.checkpoints import latest_checkpoint
from agents.training.config import (
    ConfigError,
    EnvConfig,
    PolicyConfig,
    RunConfig,
    TrainConfig,
    resolve_config,
)
from agents.training.multimarket import check_recorded_markets, resolve_markets
from agents.transfer.pretrained_config import PretrainedConfig
from envs.marketspec import add_market_flags, check_recorded_market
from envs.presets import PRESETS
from lab.config import describe
from lab.rundir import read_config
from lab.seeds import add_group_flags

# Flags that may change on --resume (the budget, where to compute, the progress bar); the rest
# would make the resumed run a different experiment.
RESUME_ALLOWED = ("timesteps", "device", "no_progress", "resume")


@dataclass
class Invocation:
    """What ``main`` needs: the resolved config, the run folder (None = make a fresh one),
    whether it resumes, the warm-start checkpoint and whether to draw a progress bar."""

    cfg: RunConfig
    run_dir: Path | None
    resume: bool
    warm_start: Path | None
    progress: bool
    pretrained: Path | None = None


# env flags of the action rules and the decision interval (envs.actions): bars or a time
ACTION_FLAGS = ("decision_interval", "no_trade_band", "min_hold", "vol_target", "vol_window",
                "max_leverage")  # fmt: skip


def build_parser(algo: str, hyper_cls: type) -> argparse.ArgumentParser:
    """The argparse parser; ``--help`` documents every flag and every config field."""
    epilog = (
        "config resolution (later wins): dataclass defaults -> agents/configs/"
        f"{algo}.yml [default] -> agents/configs/{algo}.yml [<env>] -> --config FILE -> flags.\n"
        "Config sections and fields:\n"
        f"env:\n{describe(EnvConfig)}\npolicy:\n{describe(PolicyConfig)}\n"
        f"{algo}:\n{describe(hyper_cls)}\ntrain:\n{describe(TrainConfig)}\n"
        f"pretrained (with --pretrained):\n{describe(PretrainedConfig)}"
    )
    p = argparse.ArgumentParser(
        prog=ALGOS[algo].prog,
        description=f"Train {algo.upper()} on a trading env preset (train split), select on val, "
        f"write everything to a run folder (runs/<env>/{algo}/<UTC time>_s<seed>/).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--env",
        nargs="+",
        metavar="MARKET",
        help=f"market: a preset ({', '.join(sorted(PRESETS))}), a candle file or a catalog "
        "entry (required unless --resume). Several, space-separated (--env btc1h eth1h), train "
        "ONE single-asset policy on episodes drawn across them, each market normalised on its "
        "own train split, selected on the mean of their val splits (agents.training.multimarket);"
        " not a portfolio universe, which is a comma list (--env btc1h,eth1h, envs.portfolio)",
    )
    add_market_flags(p)
    p.add_argument(
        "--timesteps",
        type=int,
        help="total env steps (overrides train.total_timesteps; "
        "with --resume: the new total, counted from 0 not from the checkpoint)",
    )
    p.add_argument(
        "--seed", type=int, help="seed for python, numpy, torch, the envs and SB3 (default 0)"
    )
    p.add_argument(
        "--n-envs", type=int, help="parallel envs in the batched training VecEnv (env.n_envs)"
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="torch device (train.device)")
    for name in ACTION_FLAGS:  # the action rules (envs.actions), as in the env section
        doc = EnvConfig.__dataclass_fields__[name].metadata["doc"].replace("%", "%%")
        p.add_argument(f"--{name.replace('_', '-')}", metavar="V", help=f"env.{name}: {doc}")
    p.add_argument(
        "--config",
        type=Path,
        help="YAML with sections env/policy/"
        f"{algo}/train (and seed) overriding the {algo}.yml defaults",
    )
    p.add_argument(
        "--run-dir",
        type=Path,
        help="write the run here instead of runs/<env>/"
        f"{algo}/<UTC time>_s<seed>/ (must not exist or be empty)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="RUN_DIR",
        help="continue a killed run from its last checkpoint with its saved config and step count",
    )
    p.add_argument(
        "--warm-start",
        type=Path,
        metavar="CKPT",
        help="initialise the policy from a "
        "supervised checkpoint (PPO only; see agents.transfer.policy_surgery)",
    )
    p.add_argument(
        "--pretrained",
        type=Path,
        metavar="CKPT",
        help="fine-tune a self-supervised backbone (python -m supervised.pretrain) with LoRA: "
        "frozen base, LoRA + heads train (see agents.transfer.pretrained_backbone)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    add_group_flags(p)  # handled by agents.experiments.seed_group before parse() sees them
    return p


def _cli_layer(args: argparse.Namespace) -> dict[str, Any]:
    layer: dict[str, Any] = {}
    if args.seed is not None:
        layer["seed"] = args.seed
    if args.n_envs is not None:
        layer.setdefault("env", {})["n_envs"] = args.n_envs
    if args.timesteps is not None:
        layer.setdefault("train", {})["total_timesteps"] = args.timesteps
    if args.device is not None:
        layer.setdefault("train", {})["device"] = args.device
    for name in ACTION_FLAGS:
        if getattr(args, name) is not None:
            layer.setdefault("env", {})[name] = getattr(args, name)
    return layer


def parse(algo: str, hyper_cls: type, argv: list[str] | None = None) -> Invocation:
    """Parse argv into an :class:`Invocation`; user errors exit with code 2 and a clear message."""
    parser = build_parser(algo, hyper_cls)
    args = parser.parse_args(argv)
    if args.workers is not None or args.address is not None:
        parser.error("--workers/--address run a seed group: add --seeds S1 S2 ...")
    try:
        if args.resume is not None:
            return _parse_resume(parser, args, algo)
        if args.env is None:
            parser.error(f"--env is required; valid presets: {', '.join(sorted(PRESETS))}")
        keys = resolve_markets(args)  # args.env: the first market's key (envs.marketspec)
        cfg = resolve_config(
            algo, args.env, config_file=args.config, cli=_cli_layer(args), markets=keys
        )
        if len(keys) > 1 and (args.warm_start is not None or args.pretrained is not None):
            raise ConfigError(
                "--warm-start/--pretrained carry one market's normaliser; several --env markets "
                "train from scratch (drop the flag, or train on one market)"
            )
    except ConfigError as err:
        parser.error(str(err))
    warm = args.warm_start
    if warm is not None and not warm.exists():
        parser.error(f"--warm-start {warm}: no such file")
    if warm is not None and args.pretrained is not None:
        parser.error("--warm-start and --pretrained exclude each other: pick one starting point")
    if args.pretrained is not None and not args.pretrained.exists():
        parser.error(f"--pretrained {args.pretrained}: no such file")
    return Invocation(cfg, args.run_dir, False, warm, not args.no_progress, args.pretrained)


def _saved_config(
    algo: str, run_dir: Path, saved: dict[str, Any], layer: dict[str, Any], markets: list[str]
) -> Any:
    """The resumed run's config.yaml resolved and checked; a refused value names the file."""
    saved_file = run_dir / "config.yaml"
    try:
        return resolve_config(
            algo, saved["env_name"], config_file=saved_file, cli=layer, markets=markets
        )
    except ConfigError as err:  # a value check names no file: say which one was edited
        if str(saved_file) in str(err):
            raise
        raise ConfigError(
            f"{saved_file}: {err} (the saved config was edited or damaged: restore the run "
            "folder or start a new run)"
        ) from None


def _parse_resume(
    parser: argparse.ArgumentParser, args: argparse.Namespace, algo: str
) -> Invocation:
    run_dir: Path = args.resume
    if not (run_dir / "config.yaml").is_file():
        parser.error(f"--resume {run_dir}: no config.yaml there, so it is not a run folder")
    saved = read_config(run_dir)
    if saved.get("algo") not in ALGOS:  # an empty or hand-edited config.yaml
        parser.error(
            f"--resume {run_dir}: config.yaml names no algorithm (algo: {saved.get('algo')!r}), "
            "so it is not a finished run's config; the run folder is damaged"
        )
    if saved.get("algo") != algo:
        parser.error(
            f"--resume {run_dir}: that run is {saved.get('algo')!r}, not {algo!r}; "
            f"use {ALGOS[str(saved.get('algo'))].prog}"
        )
    if latest_checkpoint(run_dir) is None:
        parser.error(
            f"--resume {run_dir}: no checkpoint yet (checkpoints/latest.json missing); "
            "start a fresh run instead"
        )
    conflicts = []
    markets = saved.get("markets") or []
    for name in ("env", "seed", "n_envs"):
        value = getattr(args, name)
        if name == "env" and value is not None:  # nargs: a list; one market compares as a name
            value = value[0] if len(value) == 1 and not markets else list(value)
        have = {
            "env": markets or saved.get("env_name"),
            "seed": saved.get("seed"),
            "n_envs": (saved.get("env") or {}).get("n_envs"),
        }[name]
        if value is not None and value != have:
            conflicts.append(f"--{name.replace('_', '-')} {value} (the run has {have})")
    for name in ("config", "run_dir", "warm_start", "pretrained", *ACTION_FLAGS):
        if getattr(args, name) is not None:
            conflicts.append(f"--{name.replace('_', '-')} (a resumed run keeps its saved config)")
    if conflicts:
        parser.error(
            f"--resume {run_dir} continues the same experiment; conflicting flags: "
            + "; ".join(conflicts)
            + ". Only --timesteps, --device and --no-progress "
            "may change."
        )
    layer = {k: v for k, v in _cli_layer(args).items() if k == "train"}
    check_recorded_market(run_dir, saved["env_name"])  # the same data it started on
    check_recorded_markets(run_dir, markets)  # every market of a several-market run
    cfg = _saved_config(algo, run_dir, saved, layer, markets)
    return Invocation(cfg, run_dir, True, None, not args.no_progress)
