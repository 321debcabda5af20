"""SB3 callbacks, one job each: trading scalars, parameter counts (checkpoints: ``agents.resume.checkpoints``).

All logging goes through SB3's logger, so it lands in the same TensorBoard run as SB3's own
``rollout/``, ``train/`` and ``eval/`` scalars.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.training.episode_stats import PERIODS_PER_YEAR, CostRates, EpisodeStats
from agents.training.models import lora_parameter_count, parameter_counts


class TradingMetricsCallback(BaseCallback):
    """Logs ``trading/*`` for finished training episodes (mean over the logging interval).

    Reads the batched env's ``last_info`` arrays after every step (its per-env infos are empty
    until an episode ends).

    Per episode: final equity (relative to the start), annualised Sharpe of per-step returns,
    max drawdown, turnover, fees/slippage/funding paid, shares of short/flat/long steps. At each
    rollout end (on-policy algorithms) also the policy's mean entropy on a sample of the rollout,
    and (every algorithm) the rates since the previous rollout end, whether or not episodes ended
    (``episode_stats.CostRates``): ``trading/round_trips_per_year``, ``fees_per_year``,
    ``slippage_per_year``, ``funding_per_year`` (fractions of equity a year).
    """

    def __init__(
        self, periods_per_year: int = PERIODS_PER_YEAR, entropy_sample: int = 512, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        self.periods_per_year = periods_per_year
        self.entropy_sample = entropy_sample
        self.stats: EpisodeStats | None = None
        self.rates: CostRates | None = None
        self.episodes = 0
        self.restored_stats: dict[str, np.ndarray] | None = None  # set by agents.resume.logs

    def _on_training_start(self) -> None:
        self.batched = self.training_env.unwrapped  # the BatchedTradingEnv under VecMonitor
        if not hasattr(self.batched, "last_info"):
            raise TypeError(
                f"TradingMetricsCallback needs a BatchedTradingEnv (per-step last_info arrays); "
                f"got {type(self.batched).__name__}"
            )
        self.stats = EpisodeStats(
            self.training_env.num_envs, self.batched.params.initial_equity, self.periods_per_year
        )
        interval = int(self.batched.params.decision_interval)
        self.rates = CostRates(interval, self.periods_per_year)
        if self.restored_stats is not None:  # a resumed run's unfinished episodes
            self.stats.set_state(self.restored_stats)
            self.restored_stats = None

    def _on_step(self) -> bool:
        assert self.stats is not None
        finished = self.stats.step(self.batched.last_info, self.locals["dones"])
        if self.rates is not None:
            self.rates.step(self.batched.last_info)
        for summary in finished:
            self.episodes += 1
            for key, value in summary.items():
                if np.isfinite(value):  # a flat episode's Sharpe is nan (undefined): not averaged
                    self.logger.record_mean(f"trading/{key}", value)
        if finished:
            self.logger.record("trading/episodes", self.episodes)
        return True

    def _on_rollout_end(self) -> None:
        rates = self.rates.rates() if self.rates is not None else None
        for key, value in (rates or {}).items():  # mean over rollouts between two log dumps
            self.logger.record_mean(f"trading/{key}", value)
        entropy = self._policy_entropy()
        if entropy is not None:
            self.logger.record("trading/policy_entropy", entropy)

    def _policy_entropy(self) -> float | None:
        """Mean entropy of the action distribution on up to ``entropy_sample`` rollout obs.

        Only for on-policy models with a categorical/Gaussian distribution that has a closed
        form; SAC's squashed Gaussian has none (SB3 logs ``train/ent_coef`` for it).
        """
        buffer = getattr(self.model, "rollout_buffer", None)
        if buffer is None or not getattr(buffer, "full", False):
            return None
        obs = buffer.observations.reshape(-1, *buffer.obs_shape)
        if len(obs) > self.entropy_sample:
            idx = np.linspace(0, len(obs) - 1, self.entropy_sample).astype(np.int64)
            obs = obs[idx]
        else:
            idx = np.arange(len(obs))
        with torch.no_grad():
            as_tensor = partial(torch.as_tensor, device=self.model.device)
            if hasattr(buffer, "hidden_states_pi"):  # recurrent: each obs with its LSTM state
                states = [
                    _per_obs(getattr(buffer, f"{k}_states_pi"), idx) for k in ("hidden", "cell")
                ]
                dist, _ = self.model.policy.get_distribution(
                    as_tensor(obs), tuple(map(as_tensor, states)), as_tensor(np.zeros(len(idx)))
                )
            else:
                dist = self.model.policy.get_distribution(as_tensor(obs))
            ent = dist.entropy()
        return None if ent is None else float(ent.mean().item())


def _per_obs(states: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """A recurrent rollout buffer's LSTM states ``(n_steps, layers, n_envs, hidden)`` as
    ``(layers, n_steps * n_envs, hidden)`` (the order of the flattened observations), rows
    ``idx``: each sampled observation with the state the policy acted on."""
    layers, hidden = states.shape[1], states.shape[3]
    flat = states.transpose(1, 0, 2, 3).reshape(layers, -1, hidden)
    return np.ascontiguousarray(flat[:, idx], dtype=np.float32)


class ParamCountCallback(BaseCallback):
    """Logs ``model/params_total`` and ``model/params_trainable`` once, at the run's start (a
    resumed run logged them before: not again, so its TensorBoard run has them once)."""

    def _on_training_start(self) -> None:
        if self.num_timesteps > 0:
            return
        total, trainable = parameter_counts(self.model)
        self.logger.record("model/params_total", total)
        self.logger.record("model/params_trainable", trainable)
        lora = lora_parameter_count(self.model)
        self.logger.record("model/params_lora", lora)
        if self.verbose:
            print(f"policy parameters: {total:,} total, {trainable:,} trainable, {lora:,} LoRA")

    def _on_step(self) -> bool:
        return True
