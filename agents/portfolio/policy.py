"""A portfolio run's policy: saved as plain tensors + JSON, loaded without executing anything.

A run folder holds ``policy.json`` (the universe, the observation layout, the action mode and
the network's settings: plain data) and ``best_policy.pt`` / ``final_policy.pt`` (the
``AssetSetNet`` state dict, read back with ``torch.load(weights_only=True)``). SB3's zip, whose
entries are pickles, is never needed to act. ``NetAllocator`` turns the network into the
``decide(t, tradable, first)`` of ``backtest.allocation.run_allocation``: the deterministic
scores (the Gaussian's mean) mapped to weights exactly as the env maps them
(``action_map="logits"``).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.portfolio.env import PortfolioAccounts
from envs.portfolio.weights import MODES, keep_within_band, to_weights
from lab.atomic import atomic_save, atomic_write_json
from lab.config import ConfigError
from policies.asset_set import MIXERS, AssetSetNet

POLICY_JSON = "policy.json"
WEIGHT_FILES = {"best": "best_policy.pt", "final": "final_policy.pt"}


@dataclass(frozen=True)
class PortfolioPolicySpec:
    """What a saved portfolio policy needs to act (``policy.json``)."""

    members: tuple[str, ...]  # the training universe's market keys, in order
    feature_set: str
    window: int
    n_features: int
    mode: str  # long_only / long_short (the env's)
    gross_cap: float
    net: dict[str, Any] = field(default_factory=dict)  # d_model, mixer, n_heads, score_gain
    rebalance_band: float = 0.0  # the env's: targets within it of the previous ones are kept
    action_map: str = "logits"  # the env's: logits (Gaussian on the scores) or choice (argmax)

    def build_net(self) -> AssetSetNet:
        """A fresh network of this layout (weights from ``load_run_policy``)."""
        return AssetSetNet(
            self.window, self.n_features, long_only=self.mode == "long_only", **self.net
        )

    @classmethod
    def from_dict(cls, data: Any, where: str) -> PortfolioPolicySpec:
        """Checked plain data -> spec; ConfigError naming the file, the key and the fix."""
        fix = "it is written by python -m agents.ppo --env A,B; retrain or restore the file"
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object; {fix}")
        checks = {
            "members": lambda v: isinstance(v, list) and v and all(isinstance(s, str) for s in v),
            "feature_set": lambda v: isinstance(v, str),
            "window": lambda v: isinstance(v, int) and 1 <= v <= 10_000,
            "n_features": lambda v: isinstance(v, int) and 1 <= v <= 10_000,
            "mode": lambda v: v in MODES,
            "gross_cap": lambda v: isinstance(v, (int, float)) and 0 < v <= 10,
            "rebalance_band": lambda v: isinstance(v, (int, float)) and 0 <= v < 1,
            "action_map": lambda v: v in ("logits", "choice"),
            "net": lambda v: isinstance(v, dict)
            and set(v) <= {"d_model", "mixer", "n_heads", "score_gain"}
            and isinstance(v.get("score_gain", 1.0), (int, float))
            and 0 < v.get("score_gain", 1.0) <= 100
            and v.get("mixer", "mean") in MIXERS
            and all(isinstance(v.get(k, 1), int) and 1 <= v.get(k, 1) <= 4096
                    for k in ("d_model", "n_heads")),
        }  # fmt: skip
        for key, ok in checks.items():
            if key not in data or not ok(data[key]):
                raise ConfigError(f"{where}: {key}={data.get(key)!r} is missing or invalid; {fix}")
        return cls(**{**data, "members": tuple(data["members"])})


def save_policy(run_dir: Path, net: AssetSetNet, spec: PortfolioPolicySpec, which: str) -> Path:
    """Write ``policy.json`` and the ``which`` ("best"/"final") weights atomically."""
    atomic_write_json(run_dir / POLICY_JSON, asdict(spec))
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    return atomic_save(run_dir / WEIGHT_FILES[which], lambda p: torch.save(state, p))


def load_run_policy(
    run_dir: str | Path, which: str = "best"
) -> tuple[AssetSetNet, PortfolioPolicySpec]:
    """The run's network (eval mode) and spec; ConfigError (one line) for a folder that is not
    a portfolio run, a bad ``policy.json``, a weight file that is not plain finite tensors of
    this layout."""
    run = Path(run_dir)
    path = run / POLICY_JSON
    if not path.is_file():
        raise ConfigError(
            f"{run}: no {POLICY_JSON}: not a portfolio run (train one with python -m agents.ppo "
            "--env A,B)"
        )
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: not valid JSON ({err}); retrain or restore the file") from None
    spec = PortfolioPolicySpec.from_dict(data, str(path))
    weights = run / WEIGHT_FILES[which]
    if not weights.is_file():
        raise ConfigError(f"{weights}: missing; the run did not finish (train it again)")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (any unpickling refusal or corrupt file: one line)
        raise ConfigError(f"{weights}: not a plain tensor file ({type(err).__name__})") from None
    net = spec.build_net()
    if not isinstance(state, dict) or set(state) != set(net.state_dict()):
        raise ConfigError(f"{weights}: its tensors do not match {POLICY_JSON}'s network")
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or not bool(torch.isfinite(value).all()):
            raise ConfigError(f"{weights}: tensor {key!r} is not finite numbers (diverged?)")
    try:
        net.load_state_dict(state)
    except RuntimeError:
        raise ConfigError(f"{weights}: tensor shapes do not match {POLICY_JSON}") from None
    return net.eval(), spec


class NetAllocator:
    """``decide(t, tradable, first)`` of a network on ``accounts`` (one account, stepped by
    ``run_allocation``): observe the account at t, deterministic scores, the env's weights."""

    def __init__(
        self, net: AssetSetNet, accounts: PortfolioAccounts, spec: PortfolioPolicySpec
    ) -> None:
        self.net, self.accounts, self.spec = net, accounts, spec
        if accounts.universe.window != net.window or accounts.universe.n_features != (
            net.n_features
        ):
            raise ConfigError(
                f"the policy reads windows of {net.window} bars x {net.n_features} features, the "
                f"universe has {accounts.universe.window} x {accounts.universe.n_features}: load "
                "it with the run's feature set and window"
            )

    def decide(self, t: int, tradable: np.ndarray, first: bool) -> tuple[np.ndarray, bool]:
        """Target weights on bar t (the account's current bar)."""
        obs = torch.from_numpy(self.accounts.observe())
        with torch.no_grad():
            scores, _ = self.net(obs)
        s = self.spec
        if s.action_map == "choice":  # the categorical's mode: the highest score (or cash)
            choice = np.argmax(scores.numpy(), axis=1)
            return to_weights(choice, tradable[None], s.mode, s.gross_cap, "choice")[0], False
        w = to_weights(scores.numpy(), tradable[None], s.mode, s.gross_cap, "logits")
        if s.rebalance_band > 0.0:  # as the env's step: targets within the band are kept
            prev = self.accounts.pos[:1]
            w = keep_within_band(w, prev, tradable[None], s.rebalance_band, s.mode, s.gross_cap)
        return w[0], False


def finite_or_none(x: float) -> float | None:
    """JSON-safe number (an always-flat policy's Sharpe is NaN)."""
    return float(x) if math.isfinite(x) else None
