"""A discrete PPO actor in numpy: one decision without importing torch.

Importing torch costs seconds (4.7-7 s on the shared 2-core VM, bench/RESULTS.md "predict
latency"); one decision is a few small matrix products. At promotion (``agents.registry``) a
discrete PPO version gets ``actor.npz`` (the actor's float32 weights as plain arrays, read with
``np.load(allow_pickle=False)``) and ``actor.json`` (the ``TransformerConfig`` fields and the
actor MLP's widths), exported by ``export_actor`` from the torch modules of
``agents.acting.fast_policy``. ``NumpyActor`` repeats ``policies.transformer.TransformerBackbone``'s
forward pass (patching, pre-LN blocks, last-token pooling, the account concat and the GELU
projection), SB3's actor MLP (``Tanh``) and ``action_net``, in float64.

Not exported (served by ``agents.acting.fast_policy`` instead): LoRA backbones, dropout > 0.
Parity with ``agents.acting.loading.load_run``'s probabilities within 1e-6 on real bars:
``tests/test_predict_fast.py``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

WEIGHTS_FILE = "actor.npz"
CONFIG_FILE = "actor.json"
FORMAT = "rltrade-numpy-actor-v1"
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU (torch's default ``approximate='none'``)."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch's LayerNorm
    return (x - mu) / np.sqrt(var + eps) * w + b


class NumpyActor:
    """The exported actor: flat observations ``(B, obs_dim)`` -> SELL/HOLD/BUY probabilities."""

    probabilistic: ClassVar[bool] = True

    def __init__(self, weights: dict[str, np.ndarray], config: dict[str, Any]) -> None:
        self.w: dict[str, np.ndarray] = {k: v.astype(np.float64) for k, v in weights.items()}
        self.c = config

    def _lin(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.w[f"{name}.weight"].T + self.w[f"{name}.bias"]

    def _attention(self, h: np.ndarray, hq: np.ndarray, i: int) -> np.ndarray:
        B, N, d = h.shape
        nh, nq = int(self.c["n_heads"]), hq.shape[1]
        a = f"blocks.{i}.attn"
        q = self._lin(hq, f"{a}.q").reshape(B, nq, nh, d // nh).transpose(0, 2, 1, 3)
        k = self._lin(h, f"{a}.k").reshape(B, N, nh, d // nh).transpose(0, 2, 1, 3)
        v = self._lin(h, f"{a}.v").reshape(B, N, nh, d // nh).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d // nh)  # (B, h, nq, N)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        y = (s / s.sum(axis=-1, keepdims=True)) @ v  # (B, h, nq, d/h)
        return self._lin(y.transpose(0, 2, 1, 3).reshape(B, nq, d), f"{a}.out")

    def _block(self, x: np.ndarray, i: int, last_only: bool) -> np.ndarray:
        w, b = self.w, f"blocks.{i}"
        h = _layer_norm(x, w[f"{b}.ln1.weight"], w[f"{b}.ln1.bias"])
        if last_only:
            x = x[:, -1:] + self._attention(h, h[:, -1:], i)
        else:
            x = x + self._attention(h, h, i)
        m = _layer_norm(x, w[f"{b}.ln2.weight"], w[f"{b}.ln2.bias"])
        return x + self._lin(_gelu(self._lin(m, f"{b}.mlp.fc1")), f"{b}.mlp.fc2")

    def features(self, obs: np.ndarray) -> np.ndarray:
        """``TransformerBackbone.forward``: ``(B, obs_dim)`` -> ``(B, out_dim)``."""
        c = self.c
        W, F, P, N = int(c["window"]), int(c["n_features"]), int(c["patch_len"]), int(c["n_tokens"])
        obs = np.asarray(obs, dtype=np.float32).astype(np.float64)
        B = obs.shape[0]
        x, account = obs[:, : W * F].reshape(B, W, F), obs[:, W * F :]
        if N * P != W:
            x = np.concatenate([np.zeros((B, N * P - W, F)), x], axis=1)
        x = self._lin(x.reshape(B, N, P * F), "embed") + self.w["pos"]
        n_layers = int(c["n_layers"])
        for i in range(n_layers):
            x = self._block(x, i, last_only=c["pool"] == "last" and i == n_layers - 1)
        x = _layer_norm(x, self.w["ln_f.weight"], self.w["ln_f.bias"])
        z = np.concatenate([x[:, -1] if c["pool"] == "last" else x.mean(axis=1), account], axis=1)
        return z if c.get("features_dim") is None else _gelu(self._lin(z, "proj"))

    def probs(self, obs: np.ndarray) -> np.ndarray:
        """The actor's action probabilities per row of ``obs`` (numpy only)."""
        z = self.features(obs)
        for j in range(len(self.c["pi"])):
            z = np.tanh(self._lin(z, f"pi.{2 * j}"))
        logits = self._lin(z, "action_net")
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def bind(self, market: Any, action_space: Any) -> None:
        """Nothing to bind: the actor reads only the observation."""
        return None

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The most probable action per row of ``obs_batch``."""
        return self.probs(obs_batch).argmax(axis=1)

    def action_probs(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The action probabilities per row of ``obs_batch``."""
        return self.probs(obs_batch)


def export_actor(actor: Any, out_dir: Path) -> bool:
    """Write ``actor.npz`` + ``actor.json`` for an ``agents.acting.fast_policy.FastActor``; False
    (nothing written) for a backbone this module does not compute (LoRA, dropout)."""
    config = actor.backbone.config
    if config.lora_rank > 0 or config.dropout > 0:
        return False
    arrays = {f"{k}": v.detach().numpy() for k, v in actor.backbone.state_dict().items()}
    arrays |= {f"pi.{k}": v.detach().numpy() for k, v in actor.policy_net.state_dict().items()}
    arrays |= {
        f"action_net.{k}": v.detach().numpy() for k, v in actor.action_net.state_dict().items()
    }
    pi = [m.out_features for m in actor.policy_net if hasattr(m, "out_features")]
    meta = {**dataclasses.asdict(config), "n_tokens": config.n_tokens, "pi": pi, "format": FORMAT}
    np.savez(out_dir / WEIGHTS_FILE, **arrays)
    (out_dir / CONFIG_FILE).write_text(json.dumps(meta, indent=1))
    return True


def load_numpy_actor(version_dir: Path) -> NumpyActor | None:
    """The exported actor of a registry version (None: not exported)."""
    wf, cf = version_dir / WEIGHTS_FILE, version_dir / CONFIG_FILE
    if not (wf.is_file() and cf.is_file()):
        return None
    config = json.loads(cf.read_text())
    if config.get("format") != FORMAT:
        return None
    with np.load(wf, allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    return NumpyActor(weights, config)
