"""PPO training throughput (rollout + update) on the shipped BTC env, transformer vs baselines.

Run: ``python bench/train_fps.py`` (``--help`` for options). In ONE run, with identical PPO
settings (n_envs 16 x n_steps 128 = 2048 per rollout, batch 256, 10 epochs) on
``envs.BatchedTradingEnv`` (btc1h train split, core17, window 32), it times:

(a) ``policies.TransformerExtractor`` cpu preset via ``ppo_policy_kwargs`` (Adam foreach=True);
(a0) the same with SB3's default Adam (per-tensor loop on CPU), to show what foreach buys;
(b) a naive transformer: ``torch.nn.TransformerEncoder`` of the same width and depth as (a)
    (d_model, heads, FFN, layers) but one token per bar, defined below (Adam foreach=True);
(c) SB3's ``MlpPolicy`` (64x64 pi and vf; Adam foreach=True).

Each contender: build, warm up one rollout+update, then time ``--steps`` env steps. Printed:
env steps/s by wall clock and per CPU-second of this process (robust to other users of a shared
machine), and ratios against (c) and (b). Timings on a shared CPU are noisy; compare ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.vec_env import VecEnv
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from envs import BatchedTradingEnv, load_market  # noqa: E402
from envs.registry import split_range  # noqa: E402
from policies import make_config, ppo_policy_kwargs  # noqa: E402


class _SB3Batched(BatchedTradingEnv, VecEnv):
    """The documented adapter (envs/batched.py): BatchedTradingEnv already is a full VecEnv."""


class NaiveTransformerExtractor(BaseFeaturesExtractor):
    """One token per bar -> ``nn.TransformerEncoder`` -> last token ++ account -> Linear+GELU."""

    def __init__(
        self,
        observation_space: gym.Space,
        window: int,
        n_features: int,
        d_model: int,
        n_heads: int,
        d_ff: int,
        n_layers: int,
        features_dim: int,
    ) -> None:
        super().__init__(observation_space, features_dim)
        self.window, self.n_features = window, n_features
        self.embed = nn.Linear(n_features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, window, d_model))
        layer = nn.TransformerEncoderLayer(
            d_model,
            n_heads,
            d_ff,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        n_account = observation_space.shape[0] - window * n_features
        self.proj = nn.Linear(d_model + n_account, features_dim)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        B, wf = obs.shape[0], self.window * self.n_features
        x = obs[:, :wf].reshape(B, self.window, self.n_features)  # (B, W, F)
        x = self.encoder(self.embed(x) + self.pos)  # (B, W, d_model)
        z = torch.cat([x[:, -1], obs[:, wf:]], dim=1)  # (B, d_model + n_account)
        return nn.functional.gelu(self.proj(z))


def contenders(window: int, n_features: int) -> dict[str, dict[str, Any]]:
    cfg = make_config("cpu", window=window, n_features=n_features)
    foreach = dict(optimizer_kwargs=dict(foreach=True))
    ours = ppo_policy_kwargs(window, n_features)
    ours_default_adam = {k: v for k, v in ours.items() if k != "optimizer_kwargs"}
    naive = dict(
        features_extractor_class=NaiveTransformerExtractor,
        features_extractor_kwargs=dict(
            window=window,
            n_features=n_features,
            d_model=cfg.d_model,
            n_heads=cfg.n_heads,
            d_ff=cfg.d_ff,
            n_layers=cfg.n_layers,
            features_dim=cfg.out_dim,
        ),
        net_arch=dict(pi=[], vf=[64, 64]),
        ortho_init=False,
        **foreach,
    )
    mlp = dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), **foreach)
    return {
        "(a) ours cpu preset": ours,
        "(a0) ours, default Adam": ours_default_adam,
        "(b) nn.TransformerEncoder": naive,
        "(c) MlpPolicy": mlp,
    }


def time_ppo(policy_kwargs: dict[str, Any], args: argparse.Namespace) -> tuple[float, float]:
    """(wall steps/s, CPU steps/s) of PPO.learn over ``args.steps`` after one warm-up rollout."""
    market, _ = load_market(args.preset, args.feature_set, args.window)  # cached after the first
    split = split_range(market, args.preset, "train")
    venv = _SB3Batched(market, args.n_envs, split, seed=args.seed)  # default env options
    n_steps = args.rollout // args.n_envs
    model = PPO(
        "MlpPolicy",
        venv,
        n_steps=n_steps,
        batch_size=256,
        n_epochs=10,
        seed=args.seed,
        device="cpu",
        policy_kwargs=policy_kwargs,
    )
    model.learn(args.rollout)  # warm-up: one rollout + one update
    w0, c0 = time.perf_counter(), time.process_time()
    model.learn(args.steps, reset_num_timesteps=False)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    done = model.num_timesteps - args.rollout
    return done / wall, done / cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=20_480, help="timed env steps per contender")
    ap.add_argument("--preset", default="btc1h")
    ap.add_argument("--feature-set", default="core17")
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--rollout", type=int, default=2048, help="n_envs * n_steps")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", help="substrings of contender names to run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    market, _ = load_market(args.preset, args.feature_set, args.window)
    probe = _SB3Batched(market, 1, split_range(market, args.preset, "train"))
    n_features = probe.n_features
    print(
        f"torch {torch.__version__}, threads={args.threads}; {args.preset} train, "
        f"{args.feature_set} ({n_features} features), window {args.window}, obs "
        f"{probe.observation_space.shape[0]}; n_envs {args.n_envs}, rollout {args.rollout}, "
        f"batch 256, 10 epochs; {args.steps} timed steps each",
        flush=True,
    )
    results: dict[str, tuple[float, float]] = {}
    for name, kwargs in contenders(args.window, n_features).items():
        if args.only and not any(s in name for s in args.only):
            continue
        results[name] = time_ppo(kwargs, args)
        print(
            f"{name:>28}: {results[name][0]:8.0f} steps/s wall {results[name][1]:8.0f} steps/s CPU",
            flush=True,
        )
    mlp, naive = results.get("(c) MlpPolicy"), results.get("(b) nn.TransformerEncoder")
    print("\n| contender | wall steps/s | CPU steps/s | vs MlpPolicy (CPU) | vs naive (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for name, (wall, cpu) in results.items():
        r_mlp = f"{cpu / mlp[1]:.2f}x" if mlp else "-"
        r_naive = f"{cpu / naive[1]:.1f}x" if naive else "-"
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {r_mlp} | {r_naive} |")


if __name__ == "__main__":
    main()
