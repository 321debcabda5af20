"""Load every kind of run as a policy the runner can step: SB3 run folders / zips, supervised
checkpoints (``load_run``), and the two model policies (``SB3Policy``, ``ClassifierPolicy``).

The protocol and the baselines are in ``backtest.baselines``; actions come from
``agents.acting.inference`` (the policy's modules called directly, one torch thread, inference mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from agents.acting.inference import ClassifierActor, RecurrentActor, SB3Actor, is_recurrent
from agents.acting.safe_load import ModelLoadError, config_from_saved
from agents.training.models import load_model
from backtest.baselines import PolicySpec, position_to_action
from envs.actions import RULE_OPTIONS
from envs.features import RobustNormaliser
from envs.multiframe import extra_layout
from envs.normalisers import load_run_normaliser
from supervised.checkpoint import load_checkpoint
from supervised.trees.policy import policy_parts


@dataclass
class SB3Policy:
    """A loaded PPO/SAC model acting deterministically.

    Actions come from ``agents.acting.inference.SB3Actor`` (the policy's modules called directly,
    one torch thread, inference mode): equal to ``model.predict(obs, deterministic=True)``
    bar for bar, at a fraction of its per-call cost.
    """

    model: Any
    _actor: Any = field(default=None, init=False, repr=False)

    @property
    def actor(self) -> Any:
        if self._actor is None:
            self._actor = SB3Actor(self.model)
        return self._actor

    def bind(self, market: Any, action_space: Any) -> None:
        self._actor = None  # rebuilt: the model's weights may have changed since the last pass
        _ = self.actor

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return self.actor.act(obs_batch)

    @property
    def probabilistic(self) -> bool:
        """True for a ``Discrete`` action head (PPO): class probabilities exist."""
        return hasattr(self.model.action_space, "n")

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """``(B, 3)`` SELL/HOLD/BUY probabilities of the policy's categorical distribution."""
        if not self.probabilistic:
            raise TypeError(
                f"{type(self.model).__name__} with action space {self.model.action_space} "
                "has no class probabilities (continuous exposure)"
            )
        return self.actor.probs(obs_batch)


@dataclass
class RecurrentSB3Policy:
    """A loaded recurrent model (RecurrentPPO) acting deterministically, with memory: a
    ``backtest.policy.StatefulPolicy``. Its state, the actor LSTM's ``(h, c)``, starts at zero
    for each episode (``initial_state``; the runner calls it at every data segment) and is
    threaded by the caller through ``act_state``; the policy keeps none between calls."""

    model: Any
    _actor: Any = field(default=None, init=False, repr=False)

    @property
    def actor(self) -> Any:
        if self._actor is None:
            self._actor = RecurrentActor(self.model)
        return self._actor

    def bind(self, market: Any, action_space: Any) -> None:
        self._actor = None  # rebuilt: the model's weights may have changed since the last pass
        _ = self.actor

    def initial_state(self, n: int) -> Any:
        """Zero LSTM states for ``n`` accounts."""
        return self.actor.initial_state(n)

    def act_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
        """``(actions, next LSTM state)``."""
        return self.actor.act(obs_batch, state)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """Refused: an action without its state would silently forget the past."""
        raise TypeError(
            "a recurrent policy acts through act_state (backtest.policy.step) with its state"
        )

    @property
    def probabilistic(self) -> bool:
        """True for a ``Discrete`` action head: class probabilities exist (given the state)."""
        return hasattr(self.model.action_space, "n")

    def probs_state(self, obs_batch: np.ndarray, bars: np.ndarray, state: Any) -> tuple[Any, Any]:
        """``((B, 3) SELL/HOLD/BUY probabilities, next LSTM state)``."""
        return self.actor.probs(obs_batch, state)


def sb3_policy(model: Any) -> Any:
    """The runner policy of a loaded SB3 model: ``RecurrentSB3Policy`` for one with an LSTM,
    ``SB3Policy`` otherwise."""
    return RecurrentSB3Policy(model) if is_recurrent(model.policy) else SB3Policy(model)


@dataclass
class ClassifierPolicy:
    """A supervised classifier acting through its checkpoint's decision rule.

    ``use_rule=True`` (default): the checkpoint's ``DecisionRule`` (``supervised.decision``)
    applied to the softmax of the corrected logits and to the position and bars held read from
    the observation itself (so the action is a function of bar t's observation alone). Plain
    argmax rules (every checkpoint older than rules) and ``use_rule=False`` take the argmax of the
    corrected logits (``agents.acting.inference.ClassifierActor``: one thread, inference mode, a
    preallocated input tensor; equal to ``loaded.corrected_logits(obs).argmax(-1)``).
    """

    loaded: Any  # supervised.checkpoint.LoadedClassifier
    space: Any = None
    use_rule: bool = True
    probabilistic: ClassVar[bool] = True  # softmax of the logits: see action_probs
    _actor: Any = field(default=None, init=False, repr=False)

    @property
    def actor(self) -> Any:
        if self._actor is None:
            self._actor = ClassifierActor(self.loaded)
        return self._actor

    @property
    def rule(self) -> Any:
        """The decision rule in force (None: argmax of the corrected logits)."""
        rule = getattr(self.loaded, "rule", None)
        if not self.use_rule or rule is None or rule.kind == "argmax":
            return None
        return rule

    def bind(self, market: Any, action_space: Any) -> None:
        self.space = action_space
        self._actor = None
        _ = self.actor

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        rule = self.rule
        if rule is None:
            cls = self.actor.act(obs_batch)
        else:
            cfg = self.loaded.model.config
            cls = rule.decide_obs(
                self.actor.probs64(obs_batch), obs_batch, cfg.window, cfg.n_features
            )
        return cls if hasattr(self.space, "n") else position_to_action(cls - 1.0, self.space)

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """``(B, 3)`` softmax of the corrected logits (the logits ``act`` takes the argmax of)."""
        return self.actor.probs(obs_batch)


def _seed_from_path(path: Path) -> int | None:
    m = re.search(r"_s(\d+)$", path.name)
    return int(m.group(1)) if m else None


ARGMAX_SUFFIX = "@argmax"  # "runs/.../model.pt@argmax": a supervised checkpoint without its rule


# what a damaged or hand-edited file raises while it is parsed and rebuilt (garbled JSON/YAML,
# a missing key, a wrong type, a tensor of the wrong shape): refused as the file's fault
DAMAGED_FILE_ERRORS = (ValueError, KeyError, TypeError, RuntimeError, IndexError, yaml.YAMLError)


def load_run(path: str | Path, label: str | None = None) -> PolicySpec:
    """An SB3 run folder (``config.yaml`` + ``best_model.zip``/``final_model.zip`` +
    ``normaliser.json``), a ``.zip`` inside one, or a supervised ``model.pt`` / folder with one.

    A supervised path ending in ``@argmax`` evaluates the pure argmax of the corrected logits
    instead of the checkpoint's decision rule (method ``supervised_argmax`` unless labelled).

    A damaged or tampered folder (a garbled or hand-edited file, a checkpoint that does not fit
    its model) is a ``ModelLoadError`` naming the path and what was wrong, never a traceback."""
    try:
        return _load_any(path, label)
    except ModelLoadError:
        raise
    except DAMAGED_FILE_ERRORS as err:
        what = " ".join(str(err.args[0] if isinstance(err, KeyError) and err.args else err).split())
        what = f"missing key {what}" if isinstance(err, KeyError) else what
        raise ModelLoadError(
            f"{path}: damaged or edited run folder ({type(err).__name__}: {what[:300]}); restore "
            "it from a backup or retrain it"
        ) from None


def _load_any(path: str | Path, label: str | None) -> PolicySpec:
    if str(path).endswith(ARGMAX_SUFFIX):
        return _load_supervised(Path(str(path)[: -len(ARGMAX_SUFFIX)]), label, use_rule=False)
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such run folder or checkpoint")
    if p.suffix == ".pt" or (p.is_dir() and (p / "model.pt").is_file()):
        return _load_supervised(p, label)
    if p.suffix == ".skops" or (p.is_dir() and (p / "tree.json").is_file()):
        return _load_tree(p, label)
    run_dir, zip_path = (p.parent, p) if p.suffix == ".zip" else (p, None)
    if zip_path is None:
        for name in ("best_model.zip", "final_model.zip"):
            if (run_dir / name).is_file():
                zip_path = run_dir / name
                break
        else:
            raise FileNotFoundError(
                f"{run_dir}: neither best_model.zip nor final_model.zip, nor model.pt"
            )
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{cfg_path} missing: the env layout of {zip_path} is unknown")
    cfg = yaml.safe_load(cfg_path.read_text()) or {}
    algo = str(cfg.get("algo") or run_dir.parent.name).lower()
    env_cfg = cfg.get("env", {}) or {}

    run_cfg = config_from_saved({**cfg, "algo": algo}, str(cfg_path))
    model = load_model(algo, zip_path, device="cpu", cfg=run_cfg)
    normaliser = None
    if (run_dir / "normaliser.json").is_file():  # several markets: each one's (envs.normalisers)
        normaliser = load_run_normaliser(run_dir)
    seed = cfg.get("seed", _seed_from_path(run_dir))
    method = label or algo
    name = f"{method}_s{seed}" if seed is not None else method
    layout = ("feature_set", "window", "action", "long_only", "decision_interval", *RULE_OPTIONS)
    settings = {k: env_cfg[k] for k in layout if k in env_cfg}  # older runs: the env's defaults
    settings.update(extra_layout(env_cfg))  # daily rows, context market: where the run set them
    costs = {k: env_cfg[k] for k in ("fee_bps", "slippage_bps", "funding") if k in env_cfg}
    return PolicySpec(
        name, method, sb3_policy(model), seed, settings, normaliser, str(zip_path), costs
    )


def _load_tree(path: Path, label: str | None) -> PolicySpec:
    """A tree-ensemble run (``supervised.trees``): its decision rule on calibrated probabilities."""
    parts = policy_parts(path)
    method = label or "trees"
    seed = parts.pop("seed")
    name = f"{method}_s{seed}" if seed is not None else method
    return PolicySpec(name=name, method=method, seed=seed, **parts)


def _load_supervised(path: Path, label: str | None, use_rule: bool = True) -> PolicySpec:
    try:
        loaded = load_checkpoint(path)
    except ValueError as err:  # an unreadable or foreign model.pt: one line (evaluate, predict)
        raise ModelLoadError(str(err)) from None

    normaliser = RobustNormaliser.from_dict(loaded.payload["normaliser"])
    seed = loaded.payload.get("extra", {}).get(
        "seed", _seed_from_path(path if path.is_dir() else path.parent)
    )
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such supervised checkpoint or run folder")
    method = label or ("supervised" if use_rule else "supervised_argmax")
    name = f"{method}_s{seed}" if seed is not None else method
    settings = {"feature_set": loaded.feature_set, "window": loaded.window, "action": "discrete"}
    costs = dict(loaded.payload.get("costs") or {})  # empty for checkpoints older than the field
    return PolicySpec(
        name,
        method,
        ClassifierPolicy(loaded, use_rule=use_rule),
        seed,
        settings,
        normaliser,
        str(path),
        costs,
    )
