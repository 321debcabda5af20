"""A shared-weight asset extractor for portfolio policies: any number of assets, any order.

The portfolio env's observation (``envs.portfolio.env``) is, per asset, its feature window
``(window, F)`` then its current weight and a tradable flag, and at the end the portfolio's
drawdown: length ``N * (window * F + 2) + 1``. ``AssetSetNet`` reads it as a *set* of assets:

1. **encoder** (one, weights shared by every asset): the asset's flattened window, its weight,
   its tradable flag and the portfolio drawdown -> ``d_model`` features (a 2-layer GELU MLP);
2. **mixer** across assets: ``"mean"`` (DeepSets: each asset sees the mean of the tradable
   assets' features) or ``"attention"`` (one multi-head self-attention layer over the tradable
   assets), residual;
3. **heads**: a per-asset score (one ``Linear(d_model, 1)`` shared by all assets), a cash logit
   and the state value from the pooled (mean over tradable assets) features.

Nothing depends on N or on the order of the assets: permuting the assets of the observation
permutes the scores the same way and leaves the cash logit and the value unchanged, and a
network built for N assets runs on N' (its ``state_dict`` has no N-sized tensor).

Scores -> target weights (``scores_to_weights``, the same maths as the env's
``action_map="logits"``): long-only = softmax over the tradable assets' scores and the cash
logit (weights >= 0, the rest is cash); long/short = ``tanh`` of each score, scaled down to a
gross exposure ``sum |w| <= gross_cap``. The env applies this map, so PPO's Gaussian lives on the
unbounded scores and its log-probabilities stay exact.

``AssetSetPolicy`` is the SB3 ``ActorCriticPolicy`` on it (PPO/A2C): the scores are the action
mean directly (no ``action_net``), one log-std shared by every action dimension; the value is a
second ``AssetSetNet``'s (actor and critic share no weights). Never imports ``envs`` (layer rule): the layout comes as ``window`` and
``n_features``; N is read from the observation's length.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from stable_baselines3.common.policies import ActorCriticPolicy
from torch import nn

MIXERS = ("mean", "attention")
N_ASSET_STATE = 2  # per asset after its window: current weight, tradable flag
N_GLOBAL = 1  # after every asset: the portfolio drawdown


def n_assets_of(obs_dim: int, window: int, n_features: int) -> int:
    """N from the observation length; ValueError naming the numbers when it does not divide."""
    block = window * n_features + N_ASSET_STATE
    n, rest = divmod(obs_dim - N_GLOBAL, block)
    if n < 1 or rest:
        raise ValueError(
            f"observation length {obs_dim} is not N * (window * n_features + {N_ASSET_STATE}) + "
            f"{N_GLOBAL} for window={window}, n_features={n_features}: pass the portfolio env's "
            "window and feature count"
        )
    return n


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``h`` (B, N, d) over the assets where ``mask`` (B, N) is 1; zeros if none."""
    m = mask.unsqueeze(-1)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def scores_to_weights(
    scores: torch.Tensor, tradable: torch.Tensor, long_only: bool, gross_cap: float = 1.0
) -> torch.Tensor:
    """Target weights (B, N) from scores (B, N + 1 long-only: the last is cash; B, N otherwise).

    Assets that are not tradable get weight 0 (masked out of the softmax)."""
    n = tradable.shape[1]
    if long_only:
        cash_ok = torch.ones_like(tradable[:, :1])
        ok = torch.cat([tradable, cash_ok], dim=1) > 0
        logits = scores.masked_fill(~ok, float("-inf"))
        return torch.softmax(logits, dim=1)[:, :n]
    w = torch.tanh(scores) * tradable
    gross = w.abs().sum(1, keepdim=True)
    return w * torch.clamp(gross_cap / gross.clamp(min=1e-12), max=1.0)


class AssetSetNet(nn.Module):
    """Scores (B, N [+ 1 cash]) and values (B, 1) from flat portfolio observations (B, obs_dim).

    Args:
        window, n_features: the env's observation window and features per bar.
        long_only: add the cash logit (the env's ``mode="long_only"``).
        d_model: width of each asset's features.
        mixer: ``"mean"`` or ``"attention"`` (see the module docstring).
        n_heads: attention heads (``mixer="attention"``); must divide ``d_model``.
        hidden: width of the value head's hidden layer.
        score_gain: a fixed factor on the scores and the cash logit: Adam moves parameters by
            about the learning rate per step whatever the gradient's size, so a gain lets the
            allocation leave the uniform start within a short training (measured: 1.0 learned
            the regime's sign but moved the weights by +-0.04 in 200k steps).
    """

    def __init__(
        self,
        window: int,
        n_features: int,
        long_only: bool = True,
        d_model: int = 32,
        mixer: str = "mean",
        n_heads: int = 2,
        hidden: int = 64,
        score_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.score_gain = float(score_gain)
        if mixer not in MIXERS:
            raise ValueError(f"mixer={mixer!r} is not valid: expected one of {MIXERS}")
        if d_model < 1 or d_model % max(n_heads, 1):
            raise ValueError(f"d_model={d_model} must be >= 1 and a multiple of n_heads={n_heads}")
        self.window, self.n_features, self.long_only = int(window), int(n_features), long_only
        self.mixer = mixer
        in_dim = window * n_features + N_ASSET_STATE + N_GLOBAL
        self.encoder = nn.Sequential(
            nn.Linear(in_dim, d_model), nn.GELU(), nn.Linear(d_model, d_model), nn.GELU()
        )
        if mixer == "attention":
            self.attn = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        else:
            self.mix = nn.Linear(2 * d_model, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.score = nn.Linear(d_model, 1)
        self.cash = nn.Linear(d_model, 1)
        self.value = nn.Sequential(nn.Linear(d_model, hidden), nn.GELU(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.score.weight)  # start at equal scores: a uniform allocation
        nn.init.zeros_(self.score.bias)
        nn.init.zeros_(self.cash.weight)
        nn.init.zeros_(self.cash.bias)

    def split(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-asset encoder inputs (B, N, in_dim) and the tradable mask (B, N)."""
        b = obs.shape[0]
        n = n_assets_of(obs.shape[1], self.window, self.n_features)
        assets = obs[:, : obs.shape[1] - N_GLOBAL].reshape(b, n, -1)
        drawdown = obs[:, -N_GLOBAL:].unsqueeze(1).expand(b, n, N_GLOBAL)
        return torch.cat([assets, drawdown], dim=2), assets[:, :, -1]

    def encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mixed per-asset features (B, N, d_model) and the tradable mask (B, N)."""
        x, tradable = self.split(obs)
        h = self.encoder(x)
        if self.mixer == "attention":
            pad = tradable <= 0
            pad = pad & ~pad.all(dim=1, keepdim=True)  # nothing tradable: attend to every asset
            ctx, _ = self.attn(h, h, h, key_padding_mask=pad, need_weights=False)
        else:
            pooled = masked_mean(h, tradable).unsqueeze(1).expand_as(h)
            ctx = nn.functional.gelu(self.mix(torch.cat([h, pooled], dim=2)))
        return self.norm(h + ctx), tradable

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scores, values)``: scores (B, N + 1) long-only (cash last) or (B, N); values (B, 1)."""
        h, tradable = self.encode(obs)
        scores = self.score(h).squeeze(-1)
        pooled = masked_mean(h, tradable)
        if self.long_only:
            scores = torch.cat([scores, self.cash(pooled)], dim=1)
        return scores * self.score_gain, self.value(pooled)

    def target_weights(self, obs: torch.Tensor, gross_cap: float = 1.0) -> torch.Tensor:
        """The deterministic target weights (B, N) of observations (what the env would hold)."""
        scores, _ = self(obs)
        _, tradable = self.split(obs)
        return scores_to_weights(scores, tradable, self.long_only, gross_cap)


def _action_dim(space: gym.spaces.Space) -> int:
    """Scores per action: the Box's length, or a Discrete(N + 1)'s N + 1 choices (long-only)."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    return int(space.shape[0])  # type: ignore[index]


class _Heads(nn.Module):
    """SB3's ``mlp_extractor`` slot: latent_pi = the actor's scores, latent_vf = the critic's
    value. Two networks of the same layout (no shared encoder): the value loss, fitted to noisy
    returns, would otherwise drown the policy's gradient in the shared weights."""

    def __init__(self, net: AssetSetNet, critic: AssetSetNet, action_dim: int) -> None:
        super().__init__()
        self.net, self.critic = net, critic
        self.latent_dim_pi, self.latent_dim_vf = action_dim, 1

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(features)[0], self.critic(features)[1]

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)[0]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic(features)[1]


class AssetSetPolicy(ActorCriticPolicy):
    """SB3 actor-critic on ``AssetSetNet`` (PPO/A2C with the env's ``action_map="logits"``: a
    Gaussian on the scores, or ``"choice"``: a categorical over them, all in one asset or cash).

    ``policy_kwargs=dict(window=..., n_features=..., mixer="mean", d_model=32)``; the action
    space's length says long-only (N + 1) or long/short (N). Orthogonal init is off by default
    (the net's own init starts at a uniform allocation)."""

    def __init__(
        self,
        observation_space: gym.spaces.Space,
        action_space: gym.spaces.Space,
        lr_schedule: Any,
        window: int,
        n_features: int,
        mixer: str = "mean",
        d_model: int = 32,
        n_heads: int = 2,
        score_gain: float = 1.0,
        **kwargs: Any,
    ) -> None:
        if not isinstance(observation_space, gym.spaces.Box) or not isinstance(
            action_space, (gym.spaces.Box, gym.spaces.Discrete)
        ):
            raise ValueError("AssetSetPolicy needs the portfolio env's spaces")
        n = n_assets_of(int(observation_space.shape[0]), window, n_features)
        dim = _action_dim(action_space)
        if dim not in (n, n + 1):
            raise ValueError(f"action length {dim} is neither N={n} (long/short) nor N + 1")
        self.net_kwargs: dict[str, Any] = dict(
            window=window, n_features=n_features, long_only=dim == n + 1, d_model=d_model,
            mixer=mixer, n_heads=n_heads, score_gain=score_gain,
        )  # fmt: skip
        kwargs.setdefault("ortho_init", False)
        kwargs["net_arch"] = []  # the heads are AssetSetNet's
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def _build_mlp_extractor(self) -> None:
        dim = _action_dim(self.action_space)
        self.mlp_extractor = _Heads(  # type: ignore[assignment]
            AssetSetNet(**self.net_kwargs), AssetSetNet(**self.net_kwargs), dim
        )

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        # the scores are the action mean and the net's value the value: no N-sized layers, and
        # one log-std for every action dimension (so the policy is equivariant and any N loads)
        self.action_net = nn.Identity()
        self.value_net = nn.Identity()
        if isinstance(self.action_space, gym.spaces.Box):  # a categorical has no log-std
            self.log_std = nn.Parameter(torch.full((1,), float(self.log_std_init)))
        self.optimizer = self.optimizer_class(
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            window=self.net_kwargs["window"], n_features=self.net_kwargs["n_features"],
            mixer=self.net_kwargs["mixer"], d_model=self.net_kwargs["d_model"],
            n_heads=self.net_kwargs["n_heads"], score_gain=self.net_kwargs["score_gain"],
        )  # fmt: skip
        data.pop("net_arch", None)
        return data

    @property
    def asset_net(self) -> AssetSetNet:
        """The actor: the shared-weight network whose scores are the action mean."""
        return self.mlp_extractor.net  # type: ignore[return-value]
