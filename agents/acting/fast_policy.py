"""A discrete PPO run's actor without stable_baselines3: fast loading for one decision.

``agents.predict`` needs one forward pass of the actor. Loading the run through SB3
(``PPO.load``) imports stable_baselines3 and builds the whole algorithm, Adam included, whose
construction imports ``torch._dynamo``: seconds of imports for microseconds of arithmetic
(bench/RESULTS.md, predict latency). Here the actor is rebuilt from what the run folder states:

* the weights: the zip's ``policy.pth`` entry only, read with ``torch.load(...,
  weights_only=True)`` (tensors and plain containers; the zip's pickled ``data`` entry is never
  read);
* the layout: ``config.yaml`` (``policy.preset``, ``policy.extractor_kwargs``, ``env.window``,
  ``policy.net_arch``) and the feature count of ``normaliser.json``;
* the modules: ``policies.transformer.TransformerBackbone`` (the extractor's own backbone), the
  actor's MLP (SB3's default ``Tanh`` between ``net_arch['pi']`` layers) and ``action_net``,
  loaded with ``strict=True``: a state dict that does not fit exactly is not served here.

Anything else (SAC, a continuous PPO head, a config or state dict this module does not
recognise) returns None and the caller falls back to ``agents.acting.loading.load_run``. The
probabilities and the argmax are ``agents.acting.inference.SB3Actor``'s (the same torch ops), so
the actions equal SB3's ``predict(deterministic=True)``; ``tests/test_predict_fast.py`` checks
them against ``load_run`` on real bars.
"""

from __future__ import annotations

import io
import pickle  # only for its exception type: torch.load(weights_only=True) raises it
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from agents.acting.numpy_actor import export_actor, load_numpy_actor
from backtest.baselines import PolicySpec
from envs.actions import RULE_OPTIONS
from envs.multiframe import extra_layout
from envs.normalisers import MarketNormalisers, load_run_normaliser

ACTOR_PREFIX = "pi_features_extractor.backbone."  # present whether or not the extractor is shared


class FastActor:
    """Backbone -> actor MLP -> action_net -> categorical probabilities (``SB3Actor``'s ops)."""

    probabilistic: ClassVar[bool] = True

    def __init__(self, backbone: Any, policy_net: Any, action_net: Any) -> None:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(
                1
            )  # as agents.acting.inference: 1-row batches gain nothing from more
        self.backbone, self.policy_net, self.action_net = backbone, policy_net, action_net
        for m in (backbone, policy_net, action_net):
            m.eval()

    def bind(self, market: Any, action_space: Any) -> None:
        """Nothing to bind: the actor reads only the observation."""
        return None

    def _probs(self, obs_batch: np.ndarray) -> Any:
        import torch

        with torch.inference_mode():
            obs = torch.from_numpy(np.ascontiguousarray(obs_batch, dtype=np.float32))
            logits = self.action_net(self.policy_net(self.backbone(obs)))
            return torch.softmax(logits - logits.logsumexp(dim=-1, keepdim=True), dim=-1)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The most probable action per row of ``obs_batch``."""
        return self._probs(obs_batch).argmax(dim=1).numpy()

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The action probabilities per row of ``obs_batch`` (float64)."""
        return self._probs(obs_batch).numpy().astype(np.float64)


def _zip_state(zip_path: Path) -> dict[str, Any]:
    """The ``policy.pth`` state dict of an SB3 zip (tensors only: ``weights_only=True``)."""
    import torch

    with zipfile.ZipFile(zip_path) as z:
        raw = z.read("policy.pth")
    return torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)


def _pi_layers(net_arch: Any) -> list[int] | None:
    if isinstance(net_arch, dict):
        return [int(n) for n in net_arch.get("pi", [])]
    if isinstance(net_arch, list) and all(isinstance(n, int) for n in net_arch):
        return list(net_arch)
    return None


def _modules(cfg: dict[str, Any], n_features: int, state: dict[str, Any]) -> FastActor | None:
    """The actor's modules with the state dict loaded (None: the layout is not recognised)."""
    import torch
    from torch import nn

    from policies.config import make_config  # the policies package imports torch
    from policies.transformer import TransformerBackbone  # torch: export time only

    pol, env = cfg.get("policy") or {}, cfg.get("env") or {}
    pi = _pi_layers(pol.get("net_arch", {"pi": []}))
    if pi is None:
        return None
    kw = {"dropout": pol.get("dropout", 0.0), **(pol.get("extractor_kwargs") or {})}
    config = make_config(pol.get("preset", "cpu"), window=int(env["window"]),
                         n_features=n_features, **kw)  # fmt: skip
    backbone = TransformerBackbone(config)
    layers: list[nn.Module] = []
    width = config.out_dim
    for n in pi:
        layers += [nn.Linear(width, n), nn.Tanh()]
        width = n
    policy_net, action_net = nn.Sequential(*layers), nn.Linear(width, 3)
    with torch.no_grad():
        backbone.load_state_dict(_sub(state, ACTOR_PREFIX), strict=True)
        policy_net.load_state_dict(_sub(state, "mlp_extractor.policy_net."), strict=True)
        action_net.load_state_dict(_sub(state, "action_net."), strict=True)
    return FastActor(backbone, policy_net, action_net)


def _sub(state: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


def _layout(d: Path) -> tuple[dict[str, Any], Path, Any, int] | None:
    """``(config, zip, normaliser, n_features)`` of a discrete PPO folder, else None."""
    zips = [d / n for n in ("best_model.zip", "final_model.zip") if (d / n).is_file()]
    if not zips or not (d / "config.yaml").is_file() or not (d / "normaliser.json").is_file():
        return None
    cfg = yaml.safe_load((d / "config.yaml").read_text()) or {}
    env = cfg.get("env") or {}
    if str(cfg.get("algo", "")).lower() != "ppo" or env.get("action", "discrete") != "discrete":
        return None
    if env.get("daily_window"):  # a second (daily) encoder: the numpy actor has one backbone
        return None

    normaliser = load_run_normaliser(d)  # several markets: normalisers.json (envs.normalisers)
    first = normaliser.primary if isinstance(normaliser, MarketNormalisers) else normaliser
    if not first.feature_names or "window" not in env:
        return None
    return cfg, zips[0], normaliser, len(first.feature_names)


def torch_actor(d: Path) -> FastActor | None:
    """The actor's torch modules from the run's ``policy.pth`` (None: not recognised)."""
    layout = _layout(d)
    if layout is None:
        return None
    cfg, zip_path, _, n_features = layout
    try:
        return _modules(cfg, n_features, _zip_state(zip_path))
    except (RuntimeError, KeyError, ValueError, pickle.UnpicklingError):  # not served here
        return None


def export_numpy(d: Path) -> bool:
    """Write ``actor.npz``/``actor.json`` into folder ``d`` (a discrete PPO run); True if done.

    Best effort: a folder it cannot read (an unreadable zip or normaliser) is exported nothing
    and served by ``load_run`` as before; the registry's own checks decide promotion."""
    try:
        actor = torch_actor(d)
    except (ValueError, OSError, zipfile.BadZipFile):
        return False
    if actor is None:
        return False

    return export_actor(actor, d)


def load_fast(run_dir: str | Path) -> PolicySpec | None:
    """A discrete PPO run folder (or registry version) as a ``PolicySpec`` without SB3: its
    exported numpy actor where present (no torch import), else the torch modules; None where
    this loader does not apply (the caller then uses ``agents.acting.loading.load_run``)."""
    d = Path(run_dir)
    layout = _layout(d)
    if layout is None:
        return None
    cfg, zip_path, normaliser, _ = layout
    actor: Any = load_numpy_actor(d) or torch_actor(d)
    if actor is None:
        return None
    env, seed = cfg.get("env") or {}, cfg.get("seed")
    keys = ("feature_set", "window", "action", "long_only", "decision_interval", *RULE_OPTIONS)
    settings = {k: env[k] for k in keys if k in env}  # older runs: the env's defaults
    settings.update(extra_layout(env))  # the context market (daily rows are not served here)
    costs = {k: env[k] for k in ("fee_bps", "slippage_bps", "funding") if k in env}
    name = f"ppo_s{seed}" if seed is not None else "ppo"
    return PolicySpec(name, "ppo", actor, seed, settings, normaliser, str(zip_path), costs)
