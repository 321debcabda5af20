"""A trained tree run as a policy the ``evaluate`` runner can step.

A tree run folder holds ``model.skops`` (``supervised.trees.persist``), ``tree.json`` (format,
env, feature set, window, feature names, label spec, the val-fitted decision rule, costs, seed)
and ``normaliser.json``. ``load_tree_run`` reads them; ``TreePolicy`` acts on bar t's
observation: the stack's calibrated probabilities of the window's last row (bar t's normalised
features) go through the decision rule, which reads the position and bars held from the same
observation, exactly like the classifier's ``ClassifierPolicy``.

Speed: ``bind`` predicts every bar of the market in one batch; ``act`` uses that row only when
the observation's last row equals the market's row of that bar (it always does in the runner),
and predicts from the observation otherwise, so the action is a function of the observation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from envs.features import RobustNormaliser
from supervised.decision import DecisionRule, class_probs
from supervised.trees.ensemble import TreeStack
from supervised.trees.persist import load_stack

FORMAT = "rltrade-trees-v1"
MODEL_FILE, INFO_FILE, NORMALISER_FILE = "model.skops", "tree.json", "normaliser.json"


def is_tree_run(path: str | os.PathLike[str]) -> bool:
    """A tree run folder, or the ``model.skops`` inside one."""
    p = Path(path)
    return (p.is_dir() and (p / INFO_FILE).is_file()) or (
        p.name == MODEL_FILE and (p.parent / INFO_FILE).is_file()
    )


def corrected_probs(probs: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``softmax(log p + bias)``: the val-fitted logit correction (``supervised.logit_correction``)
    on calibrated probabilities; the probabilities the decision rule acts on."""
    z = np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, None))
    return class_probs(z + np.asarray(bias, dtype=np.float64))


@dataclass
class LoadedTree:
    """A tree run read back: the stack, its tree.json info and its folder."""

    stack: TreeStack
    info: dict[str, Any]
    run_dir: Path

    @property
    def rule(self) -> DecisionRule:
        """The decision rule fitted on val."""
        return DecisionRule.from_dict(self.info.get("decision_rule"))

    def normaliser(self) -> Any:
        """The run's feature normaliser."""
        return RobustNormaliser.load(self.run_dir / NORMALISER_FILE)


def load_tree_run(path: str | os.PathLike[str]) -> LoadedTree:
    """Load a tree run folder (or its ``model.skops``); refuse another format."""
    p = Path(path)
    run_dir = p.parent if p.name == MODEL_FILE else p
    info_path = run_dir / INFO_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"{run_dir}: not a tree run (no {INFO_FILE})")
    try:
        info = json.loads(info_path.read_text())
    except (ValueError, UnicodeDecodeError) as err:  # a damaged or edited tree.json: one line
        raise ValueError(
            f"{info_path}: not valid JSON ({err}); the run folder is damaged: restore it or "
            "retrain (supervised.trees)"
        ) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        got = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise ValueError(f"{info_path}: format {got!r}, expected {FORMAT!r}")
    return LoadedTree(load_stack(run_dir / MODEL_FILE), info, run_dir)


@dataclass
class TreePolicy:
    """The stack's probabilities of bar t's features -> the decision rule -> an env action."""

    stack: TreeStack
    rule: DecisionRule
    window: int
    n_features: int
    bias: np.ndarray = field(default_factory=lambda: np.zeros(3))
    space: Any = None
    probabilistic: ClassVar[bool] = True
    _features: np.ndarray | None = field(default=None, init=False, repr=False)
    _probs: np.ndarray | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_loaded(cls, loaded: LoadedTree) -> TreePolicy:
        """The policy of a loaded tree run."""
        i = loaded.info
        bias = np.asarray((i.get("logit_correction") or {}).get("bias", np.zeros(3)), dtype=float)
        return cls(loaded.stack, loaded.rule, int(i["window"]), len(i["feature_names"]), bias)

    def bind(self, market: Any, action_space: Any) -> None:
        """Precompute the probabilities of every bar of ``market`` (checked against its features)."""
        self.space = action_space
        feats = np.asarray(market.features, dtype=np.float32)
        if feats.shape[1] != self.n_features:
            raise ValueError(
                f"market has {feats.shape[1]} features, the tree model was trained on "
                f"{self.n_features}: build the env with the model's feature set"
            )
        self._features = feats
        self._probs = self._predict(feats) if len(feats) else np.zeros((0, 3))

    def _predict(self, rows: np.ndarray) -> np.ndarray:
        return corrected_probs(self.stack.predict_proba(rows), self.bias)

    def last_rows(self, obs_batch: np.ndarray) -> np.ndarray:
        """Bar t's normalised features: the last row of each observation's window."""
        w, f = self.window, self.n_features
        return np.asarray(obs_batch, dtype=np.float32)[:, (w - 1) * f : w * f]

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """``(B, 3)`` SELL/HOLD/BUY probabilities of bar t's features (calibrated, corrected)."""
        rows = self.last_rows(obs_batch)
        b = np.asarray(bars, dtype=np.int64)
        if (
            self._probs is not None
            and self._features is not None
            and len(b) == len(rows)
            and np.all((b >= 0) & (b < len(self._probs)))
            and np.array_equal(self._features[b], rows)
        ):
            return self._probs[b]
        return self._predict(rows)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The rule's actions on the corrected probabilities at each decision bar."""
        probs = self.action_probs(obs_batch, bars)
        cls = self.rule.decide_obs(probs, obs_batch, self.window, self.n_features)
        if self.space is None or hasattr(self.space, "n"):
            return cls
        return (cls - 1.0).astype(np.float32).reshape(-1, 1)


def policy_parts(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What ``agents.acting.loading.load_run`` needs to wrap a tree run as a ``PolicySpec``."""
    loaded = load_tree_run(path)
    i = loaded.info
    return {
        "policy": TreePolicy.from_loaded(loaded),
        "seed": i.get("seed"),
        "env_settings": {
            "feature_set": i["feature_set"],
            "window": int(i["window"]),
            "action": "discrete",
        },
        "normaliser": loaded.normaliser(),
        "source": str(loaded.run_dir),
        "trained_costs": dict(i.get("costs") or {}),
    }
