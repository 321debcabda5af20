"""A study's search space and the flags its trials get, both checked before any trial runs.

``load_space`` reads ``agents/configs/search/<algo>.yml`` (or ``--space FILE``) into Optuna
distributions. ``check_space`` then resolves the trial's training configuration at every edge
of every distribution (low, high, each choice), so an unknown parameter or a value the training
command refuses is one line before the study starts, not a failure per trial.
``check_passthrough`` parses the flags agents.tune does not know with the training command's own
parser: an unknown flag is refused once, here, instead of failing every trial.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

import optuna
import yaml

from agents.experiments.tune_config import TuneConfig
from agents.experiments.tune_trial import merge_layers, nested
from agents.training.cli import build_parser as rl_parser
from agents.training.config import HYPER_CLASSES, resolve_config
from lab.config import ConfigError, load_yaml, parse_yaml, yaml_problem
from supervised.train import build_parser as supervised_parser
from supervised.train import config_from_args as supervised_config

SPACE_DIR = Path(__file__).resolve().parents[1] / "configs" / "search"  # agents/configs/search
SPACE_FORMAT = (
    "write {type: float|int, low: L, high: H[, log: true][, step: S]} or "
    "{type: categorical, choices: [...]}"
)
# flags agents.tune sets for every trial itself: given again they would fight its own
TUNE_OWNED = {
    "seed": "each trial's seeds are 0..k-1 (--seeds-per-trial k)",
    "seeds": "each trial's seeds are 0..k-1 (--seeds-per-trial k)",
    "run_dir": "trials land in <study folder>/trials/ (--out sets the study folder)",
    "resume": "a study resumes by rerunning the same agents.tune command",
    "workers": "a tune flag: give it once, before the trial flags",
    "address": "a tune flag: give it once, before the trial flags",
}


def load_space(path: Path) -> dict[str, optuna.distributions.BaseDistribution]:
    """The YAML search space as Optuna distributions; a bad entry exits naming it."""
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"--space {path}: not valid YAML ({yaml_problem(err)}); fix the file"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--space {path}: expected a YAML mapping of parameter -> distribution")
    if not raw:  # an empty space would run trials of the defaults only, silently
        raise ConfigError(
            f"--space {path}: no parameters; write NAME: {{type: float, low: L, high: H}} lines"
        )
    space: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, d in raw.items():
        try:
            space[str(name)] = _distribution(d)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            what = f"missing key {err}" if isinstance(err, KeyError) else " ".join(str(err).split())
            raise ConfigError(f"--space {path}: {name}: {what}; {SPACE_FORMAT}") from None
    return space


def _distribution(d: Any) -> optuna.distributions.BaseDistribution:
    """One search-space entry as an Optuna distribution (a bad entry raises)."""
    if not isinstance(d, dict):
        raise TypeError(f"expected a mapping, got {d!r}")
    kind = d.get("type")
    unknown = sorted(set(d) - {"type", "low", "high", "log", "choices", "step"})
    if unknown:  # a misspelt key ("hihg") would silently keep a default
        raise ValueError(f"unknown key {unknown[0]!r}")
    log = d.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"log: {log!r}; write true or false")
    if kind == "float":
        step = None if d.get("step") is None else float(d["step"])
        return optuna.distributions.FloatDistribution(
            float(d["low"]), float(d["high"]), log=log, step=step
        )
    if kind == "int":
        step = _int(d.get("step", 1))
        return optuna.distributions.IntDistribution(_int(d["low"]), _int(d["high"]), log, step)
    if kind == "categorical":
        choices = d["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"choices {choices!r}: give a non-empty list")
        return optuna.distributions.CategoricalDistribution(choices)
    raise ValueError(f"type {kind!r}; use float, int or categorical")


def _int(v: Any) -> int:
    """An integer bound; 2.5 is refused rather than truncated to 2."""
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, float) and v.is_integer())):
        raise ValueError(f"{v!r} is not an integer")
    return int(v)


def edge_values(dist: optuna.distributions.BaseDistribution) -> list[Any]:
    """The values a distribution can reach at its edges: low and high, or every choice."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return list(dist.choices)
    return [dist.low, dist.high]  # type: ignore[attr-defined]


def _raise(message: str) -> NoReturn:
    raise ConfigError(message)


def trial_parser(algo: str) -> argparse.ArgumentParser:
    """The parser of the trials' training command, raising ConfigError instead of exiting."""
    p = supervised_parser() if algo == "supervised" else rl_parser(algo, HYPER_CLASSES[algo])
    p.error = _raise  # type: ignore[method-assign]  # one line through run_cli, not usage + exit
    return p


def check_passthrough(args: TuneConfig) -> dict[str, Any]:
    """Refuse a flag neither agents.tune nor the trials' training command knows (once, before
    any trial); return the config layer of a passed-through RL ``--config FILE`` (merged under
    each trial's parameters on the driver, so the trial's values are never overridden)."""
    module = "supervised.train" if args.algo == "supervised" else f"agents.{args.algo}"
    ns, unknown = trial_parser(args.algo).parse_known_args(["--env", args.env, *args.passthrough])
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: not a flag of agents.tune nor of python -m {module} (its trials' "
            f"command); see python -m agents.tune --help and python -m {module} --help"
        )
    for name, why in TUNE_OWNED.items():
        if getattr(ns, name, None) is not None:
            raise ConfigError(f"--{name.replace('_', '-')}: not for agents.tune ({why}); drop it")
    if args.algo == "supervised" or ns.config is None:
        return {}
    if not any(a == "--config" or a.startswith("--config=") for a in args.passthrough):
        raise ConfigError("--config: write the flag in full (--config FILE)")
    return load_yaml(ns.config)


def rl_passthrough(args: TuneConfig) -> list[str]:
    """The passed-through flags of an RL study without ``--config FILE`` (its layer is merged
    into each trial's config by the driver, see ``check_passthrough``)."""
    out, skip = [], False
    for a in args.passthrough:
        if skip:
            skip = False
        elif a == "--config":
            skip = True
        elif not a.startswith("--config="):
            out.append(a)
    return out


def check_space(
    args: TuneConfig,
    space: dict[str, optuna.distributions.BaseDistribution],
    base: dict[str, Any],
    where: Path,
) -> None:
    """Resolve the trials' configuration at every edge of every distribution: an unknown
    parameter or a refused value is one line naming the entry, before any trial."""
    for name, dist in space.items():
        for value in edge_values(dist):
            try:
                _resolve_trial(args, base, {name: value})
            except ConfigError as err:
                raise ConfigError(
                    f"--space {where}: {name} = {value!r} is refused by the trials' training "
                    f"command ({' '.join(str(err).split())}); fix or drop that entry"
                ) from None


def _resolve_trial(args: TuneConfig, base: dict[str, Any], params: dict[str, Any]) -> Any:
    """The configuration a trial with ``params`` would train (raises ConfigError if refused)."""
    if args.algo == "supervised":
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in params.items()]
        ns, unknown = trial_parser("supervised").parse_known_args(
            ["--env", args.env, *flags, *args.passthrough]
        )
        if unknown:
            raise ConfigError(f"{unknown[0].split('=')[0]} is not a supervised.train flag")
        return supervised_config(ns)
    bare = [k for k in params if "." not in k]
    if bare:  # a config layer is sectioned: ppo.gamma, env.window, train.select_metric
        raise ConfigError(f"{bare[0]} names no section; write section.field (e.g. ppo.gamma)")
    return resolve_config(args.algo, args.env, cli=merge_layers(base, nested(params)))


def rl_budget(args: TuneConfig, base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """``train.total_timesteps``/``eval_freq``/``env.n_envs`` every RL trial shares.

    PPO learns whole rollouts (``n_steps * n_envs`` steps): a budget below one rollout trains
    one rollout, so the val evaluations are spread over the steps really trained, never one
    every few dozen steps of a single rollout (each evaluation is a full val backtest)."""
    fixed: dict[str, Any] = {}
    if args.n_envs is not None:
        fixed["env.n_envs"] = args.n_envs
    if args.timesteps is None:
        return fixed
    cfg = _resolve_trial(args, base, {**params, **fixed})
    chunk = cfg.env.n_envs * (cfg.hyper.n_steps if args.algo == "ppo" else 1)
    trained = -(-args.timesteps // chunk) * chunk
    fixed["train.total_timesteps"] = args.timesteps
    fixed["train.eval_freq"] = max(1, trained // max(1, args.evals_per_trial))
    return fixed
