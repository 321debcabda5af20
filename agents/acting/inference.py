"""Cheap per-bar deterministic actions for SB3 policies and supervised classifiers.

The runner steps a policy one bar at a time (the next observation holds the account state the
last action produced), so per-call overhead, not arithmetic, sets the evaluation wall time.
SB3's ``model.predict`` re-validates and re-converts the input, switches the training mode,
builds a ``Categorical`` distribution object and runs under ``no_grad``, every bar; with torch's
default intra-op threads on a busy 2-core machine it measured 8-24 ms per bar. Here:

* one torch intra-op thread (``torch.set_num_threads(1)``, set when an actor is built): the cpu
  preset's matrices are 1 x 32 .. 1 x 544, far too small for thread hand-offs to pay;
* ``torch.inference_mode`` and the policy's modules called directly on a preallocated float32
  tensor that shares memory with a numpy buffer (``torch.from_numpy``): obs ->
  ``pi_features_extractor`` -> ``mlp_extractor.forward_actor`` -> ``action_net`` -> argmax.

Exactness: the discrete head computes SB3's ``Categorical(logits=...).mode()`` with the same
torch ops (normalise by logsumexp, softmax, argmax over the probabilities), so even ties created
by float32 rounding resolve as in ``predict(deterministic=True)``; other policies (SAC, a Box
PPO head) call SB3's own ``_predict`` and the same unscale/clip post-processing as ``predict``.
Tests assert equality with ``model.predict`` bar by bar. Figures: ``bench/eval_policy.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from supervised.decision import class_probs


def single_thread() -> None:
    """One torch intra-op thread: per-bar batches of 1 row gain nothing from more (see above)."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)


class _Buffer:
    """A float32 numpy array and a tensor on the same memory, reallocated only on a new shape."""

    def __init__(self) -> None:
        self.array: np.ndarray = np.empty((0, 0), dtype=np.float32)
        self.tensor = torch.from_numpy(self.array)

    def load(self, obs_batch: np.ndarray) -> torch.Tensor:
        obs = np.asarray(obs_batch)
        if obs.shape != self.array.shape:
            self.array = np.empty(obs.shape, dtype=np.float32)
            self.tensor = torch.from_numpy(self.array)
        np.copyto(self.array, obs, casting="same_kind")  # float64 -> float32 rounds like .float()
        return self.tensor


class SB3Actor:
    """Deterministic actions (and class probabilities) of an SB3 model, without ``predict``."""

    def __init__(self, model: Any) -> None:
        from gymnasium import spaces
        from stable_baselines3.common.policies import ActorCriticPolicy

        single_thread()
        self.policy = policy = model.policy
        if is_recurrent(policy):  # its actions depend on the LSTM state: RecurrentActor
            raise TypeError(f"{type(policy).__name__} is recurrent: act through RecurrentActor")
        policy.set_training_mode(False)
        self.action_space = policy.action_space
        self.box_actions = isinstance(self.action_space, spaces.Box)
        # the direct path: an actor-critic with a categorical head on a flat Box observation,
        # on the CPU (preprocess_obs is then just .float(), which the buffer already is)
        self.direct = (
            isinstance(policy, ActorCriticPolicy)
            and isinstance(self.action_space, spaces.Discrete)
            and isinstance(policy.observation_space, spaces.Box)
            and policy.device.type == "cpu"
        )
        self._buf = _Buffer()

    def _logits(self, obs: torch.Tensor) -> torch.Tensor:
        p = self.policy
        latent = p.mlp_extractor.forward_actor(p.pi_features_extractor(obs))  # (B, latent)
        return p.action_net(latent)  # (B, n_actions)

    @staticmethod
    def _probs(logits: torch.Tensor) -> torch.Tensor:
        # exactly torch.distributions.Categorical(logits=logits).probs
        return torch.softmax(logits - logits.logsumexp(dim=-1, keepdim=True), dim=-1)

    def act(self, obs_batch: np.ndarray) -> np.ndarray:
        """``(B,)`` int64 actions (Discrete) or ``(B, *shape)`` float32 (Box), as ``predict``."""
        with torch.inference_mode():
            if self.direct:
                obs = self._buf.load(obs_batch)
                return self._probs(self._logits(obs)).argmax(dim=1).numpy()
            obs, _ = self.policy.obs_to_tensor(obs_batch)
            actions = self.policy._predict(obs, deterministic=True)
        out = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if self.box_actions:
            if self.policy.squash_output:
                return self.policy.unscale_action(out)
            return np.clip(out, self.action_space.low, self.action_space.high)
        return out

    def probs(self, obs_batch: np.ndarray) -> np.ndarray:
        """``(B, n_actions)`` float64 probabilities of the categorical head."""
        if not hasattr(self.action_space, "n"):
            raise TypeError(f"action space {self.action_space} has no class probabilities")
        with torch.inference_mode():
            if self.direct:
                probs = self._probs(self._logits(self._buf.load(obs_batch)))
            else:
                obs, _ = self.policy.obs_to_tensor(np.asarray(obs_batch, dtype=np.float32))
                probs = self.policy.get_distribution(obs).distribution.probs
        return probs.cpu().numpy().astype(np.float64)


def is_recurrent(policy: Any) -> bool:
    """True for an SB3 policy with an LSTM (sb3-contrib's ``RecurrentActorCriticPolicy``)."""
    return hasattr(policy, "lstm_actor") and hasattr(policy, "lstm_hidden_state_shape")


LSTMState = tuple[np.ndarray, np.ndarray]  # (h, c), each (n_lstm_layers, n accounts, hidden)


class RecurrentActor:
    """Deterministic actions of a recurrent SB3 policy (RecurrentPPO), the LSTM state threaded
    by the caller: ``(actions, next state) = act(obs, state)``.

    The same modules and ops as ``RecurrentActorCriticPolicy.predict(obs, state, episode_start=
    False, deterministic=True)``: the actor's features extractor, one step of ``lstm_actor``,
    ``mlp_extractor.forward_actor``, then the head (a categorical head's probabilities and their
    argmax, as ``SB3Actor``; a Box head through SB3's distribution and clip). An episode start
    is the caller's ``initial_state`` (zeros), which is what SB3's ``episode_start=True``
    multiplies the state into. Only the actor's LSTM is stepped: the critic's never acts.
    """

    def __init__(self, model: Any) -> None:
        from gymnasium import spaces

        single_thread()
        self.policy = policy = model.policy
        if not is_recurrent(policy):
            raise TypeError(f"{type(policy).__name__} has no LSTM: act through SB3Actor")
        policy.set_training_mode(False)
        self.action_space = policy.action_space
        self.box_actions = isinstance(self.action_space, spaces.Box)
        self.layers, _, self.hidden = policy.lstm_hidden_state_shape
        self._buf = _Buffer()

    def initial_state(self, n: int) -> LSTMState:
        """Zero hidden and cell states for ``n`` accounts (an episode's start)."""
        shape = (self.layers, n, self.hidden)
        return np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=np.float32)

    def _latent(self, obs_batch: np.ndarray, state: LSTMState) -> tuple[torch.Tensor, LSTMState]:
        p = self.policy
        features = p.extract_features(self._buf.load(obs_batch), p.pi_features_extractor)
        h, c = (torch.from_numpy(np.ascontiguousarray(s, dtype=np.float32)) for s in state)
        out, (h, c) = p.lstm_actor(features.unsqueeze(0), (h, c))  # a sequence of length 1
        return p.mlp_extractor.forward_actor(out.squeeze(0)), (h.numpy(), c.numpy())

    def act(self, obs_batch: np.ndarray, state: LSTMState) -> tuple[np.ndarray, LSTMState]:
        """``(actions, next state)``: ``(B,)`` int64 (Discrete) or ``(B, 1)`` float32 (Box)."""
        with torch.inference_mode():
            latent, nxt = self._latent(obs_batch, state)
            if not self.box_actions:
                return SB3Actor._probs(self.policy.action_net(latent)).argmax(dim=1).numpy(), nxt
            dist = self.policy._get_action_dist_from_latent(latent)
            out = dist.get_actions(deterministic=True).numpy()
        out = out.reshape((-1, *self.action_space.shape))
        if self.policy.squash_output:
            return self.policy.unscale_action(out), nxt
        return np.clip(out, self.action_space.low, self.action_space.high), nxt

    def probs(self, obs_batch: np.ndarray, state: LSTMState) -> tuple[np.ndarray, LSTMState]:
        """``((B, n_actions) float64 probabilities, next state)`` of a categorical head."""
        if self.box_actions:
            raise TypeError(f"action space {self.action_space} has no class probabilities")
        with torch.inference_mode():
            latent, nxt = self._latent(obs_batch, state)
            probs = SB3Actor._probs(self.policy.action_net(latent))
        return probs.numpy().astype(np.float64), nxt


class ClassifierActor:
    """``argmax(logits + bias)`` of a loaded supervised classifier (``LoadedClassifier``)."""

    def __init__(self, loaded: Any) -> None:
        single_thread()
        self.model = loaded.model.eval()
        self.bias = torch.as_tensor(loaded.correction.bias, dtype=torch.float32)
        self._buf = _Buffer()

    def logits(self, obs_batch: np.ndarray) -> torch.Tensor:
        """Corrected logits ``(B, 3)`` float32 (what ``LoadedClassifier.corrected_logits`` gives)."""
        with torch.inference_mode():
            return self.model(self._buf.load(obs_batch)) + self.bias

    def act(self, obs_batch: np.ndarray) -> np.ndarray:
        """The argmax action of each observation."""
        return self.logits(obs_batch).argmax(dim=-1).numpy()

    def probs(self, obs_batch: np.ndarray) -> np.ndarray:
        """The SELL/HOLD/BUY probabilities of each observation (float64)."""
        return torch.softmax(self.logits(obs_batch), dim=-1).numpy().astype(np.float64)

    def probs64(self, obs_batch: np.ndarray) -> np.ndarray:
        """Softmax in float64 of the float32 corrected logits: what a decision rule thresholds
        (``supervised.decision.class_probs``, computed the same way offline)."""
        return class_probs(self.logits(obs_batch).numpy())
