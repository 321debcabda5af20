"""BatchedPortfolioEnv: n portfolio accounts stepped in one kernel call, SB3 VecEnv semantics.

The same accounts as ``PortfolioEnv`` (spec in ``envs.portfolio.env``), stepped together by
``envs.portfolio.kernel`` (numba; no pandas in step). Account i draws its episode starts from
its own generator seeded ``seed + i`` exactly as gymnasium's ``Env.reset(seed=...)`` does, so a
batch's trajectories equal n ``PortfolioEnv`` seeded ``seed + i``. Done accounts are reset
automatically; their info carries ``terminal_observation`` and ``TimeLimit.truncated``, as in
``envs.batched``. The agents package makes an SB3 VecEnv of it by mixing in ``VecEnv``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.portfolio import kernel as PK
from envs.portfolio.env import PortfolioAccounts
from envs.portfolio.universe import Universe
from envs.vecenv_api import VecEnvMethods, generator_from_state


class BatchedPortfolioEnv(VecEnvMethods):
    """``n_envs`` independent portfolio accounts on one universe split."""

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode = None

    def __init__(
        self,
        universe: Universe,
        n_envs: int,
        split: tuple[int, int] | None = None,
        seed: int | None = None,
        **options: Any,
    ) -> None:
        n = self._init_batch(n_envs, seed)
        self.accounts = PortfolioAccounts(universe, n, split, **options)
        self.observation_space, self.action_space = self.accounts.spaces()
        self.last_info: dict[str, np.ndarray] = {}

    def _reset_env(self, i: int) -> None:
        """Start account i's next episode at a drawn (or requested) bar."""
        rng = self._start_rng(i)
        start = self._options[i].get("start")
        if start is None:
            starts = self.accounts.starts
            start = int(starts[int(rng.integers(len(starts)))])
        self.accounts.reset_account(i, int(start))

    def reset(self) -> np.ndarray:
        """Reset every account -> observations (n, obs_dim) float32."""
        for i in range(self.num_envs):
            self._reset_env(i)
        self._options = [{} for _ in range(self.num_envs)]
        bars: np.ndarray = self.accounts.scal[:, PK.P_T].astype(np.int64)
        self.reset_infos = [{"equity": 1.0, "bar": int(b)} for b in bars]
        return self.accounts.observe()

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every account -> ``(obs, rewards, dones, infos)``; done accounts are reset."""
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        actions, self._actions = self._actions, None
        rewards, done_code, info = self.accounts.step(actions)
        self.last_info = info
        obs = self.accounts.observe()
        dones = done_code != 0.0
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(dones).tolist():
            infos[i] = {k: v[i] for k, v in info.items()}
            infos[i]["terminal_observation"] = obs[i].copy()
            infos[i]["TimeLimit.truncated"] = bool(done_code[i] == 2.0)
            self._reset_env(i)
        if dones.any():
            obs = self.accounts.observe()  # the reset accounts' first observations
        return obs, rewards.astype(np.float32), dones, infos

    def get_state(self) -> dict[str, Any]:
        """The accounts and the start-drawing generators (plain arrays; for resume)."""
        acc = self.accounts
        rngs = [None if g is None else g.bit_generator.state for g in self._rngs]
        return {
            "scal": acc.scal.copy(), "units": acc.units.copy(), "pos": acc.pos.copy(),
            "rngs": rngs, "seeds": list(self._seeds),
        }  # fmt: skip

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore ``get_state()``."""
        acc = self.accounts
        for name in ("scal", "units", "pos"):
            value = np.asarray(state[name], dtype=np.float64)
            if value.shape != getattr(acc, name).shape:
                raise ValueError(f"env state {name} of shape {value.shape}, this env's differs")
            getattr(acc, name)[...] = value
        self._rngs = [None if s is None else generator_from_state(s) for s in state["rngs"]]
        self._seeds = [None if s is None else int(s) for s in state["seeds"]]
