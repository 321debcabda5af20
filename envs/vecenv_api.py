"""The VecEnv methods that do not depend on what is traded (SB3's VecEnv API in plain numpy).

``BatchedTradingEnv`` (one market) and ``BatchedPortfolioEnv`` (a universe) hold every account
in one object; these methods treat the batch as that one shared object: ``get_attr`` returns
the batch's attribute once per index, ``env_method`` calls the batch's method once per index,
``seed`` stores ``seed + i`` for the next ``reset()``. A subclass defines ``num_envs``,
``_seeds``, ``_options``, ``closed``, ``reset``, ``step_async`` and ``step_wait``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any

import numpy as np
from gymnasium.utils import seeding


class VecEnvMethods:
    """SB3 VecEnv plumbing for a batch that is one object (see the module doc)."""

    num_envs: int
    _seeds: list[int | None]
    _options: list[dict[str, Any]]
    closed: bool

    _rngs: list[np.random.Generator | None]
    _actions: np.ndarray | None
    reset_infos: list[dict[str, Any]]

    def _init_batch(self, n_envs: int, seed: int | None) -> int:
        """The VecEnv bookkeeping of ``n_envs`` accounts (account i seeded ``seed + i`` at the
        next reset); returns n_envs. Raises ValueError below 1."""
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.num_envs = n = int(n_envs)
        self.reset_infos = [{} for _ in range(n)]
        self._seeds = [None if seed is None else seed + i for i in range(n)]
        self._options = [{} for _ in range(n)]
        self._rngs = [None] * n
        self._actions = None
        self.closed = False
        return n

    def _start_rng(self, i: int) -> np.random.Generator:
        """Account i's episode-start generator, made exactly as gymnasium's
        ``Env.reset(seed=...)`` makes it when a seed is pending (or none exists yet)."""
        seed = self._seeds[i]
        if seed is not None or self._rngs[i] is None:
            self._rngs[i], _ = seeding.np_random(seed)
            self._seeds[i] = None
        rng = self._rngs[i]
        assert rng is not None  # made above
        return rng

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for the next ``step_wait`` (VecEnv API)."""
        self._actions = actions

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """Step every account with the stored actions."""
        raise NotImplementedError  # pragma: no cover - subclasses

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """``step_async(actions)`` then ``step_wait()``."""
        self.step_async(actions)
        return self.step_wait()

    # ----------------------------------------------------------------- VecEnv plumbing
    def _indices(self, indices: None | int | Iterable[int]) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, (int, np.integer)):
            return [int(indices)]
        return [int(i) for i in indices]

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Seeds ``seed + i`` for the next ``reset()`` (SB3 semantics; None draws one)."""
        if seed is None:
            # the global RNG on purpose, as SB3's VecEnv.seed: seed_everything() controls it
            seed = int(np.random.randint(0, np.iinfo(np.uint32).max, dtype=np.uint32))  # noqa: NPY002
        self._seeds = [seed + i for i in range(self.num_envs)]
        return self._seeds

    def set_options(self, options: list[dict] | dict | None = None) -> None:
        """Reset options for the next ``reset()`` (``{"start": bar}`` is understood)."""
        if options is None:
            options = {}
        self._options = deepcopy(
            [options] * self.num_envs if isinstance(options, dict) else options
        )

    def close(self) -> None:
        """Mark the batch closed (nothing to release)."""
        self.closed = True

    def get_attr(self, attr_name: str, indices: None | int | Iterable[int] = None) -> list[Any]:
        """The attribute of this (shared) object once per requested env index."""
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(
        self, attr_name: str, value: Any, indices: None | int | Iterable[int] = None
    ) -> None:
        """Sets the attribute on the batch (all envs share one object)."""
        self._indices(indices)
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: None | int | Iterable[int] = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Calls the batch's method once per requested index (all envs share one object)."""
        method = getattr(self, method_name)
        return [method(*method_args, **method_kwargs) for _ in self._indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type, indices: None | int | Iterable[int] = None
    ) -> list[bool]:
        """No env is wrapped in a gymnasium wrapper (wrap the batch with VecMonitor instead)."""
        return [False for _ in self._indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        """Whether the batch has the attribute (VecEnv API)."""
        return hasattr(self, attr_name)

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No images (no render modes): one None per env."""
        return [None for _ in range(self.num_envs)]

    def render(self, mode: str | None = None) -> None:
        """Nothing to render (no render modes)."""
        return None

    @property
    def unwrapped(self) -> VecEnvMethods:
        """The batch itself (no wrappers)."""
        return self

    def getattr_depth_check(self, name: str, already_found: bool) -> str | None:
        """SB3's wrapper-attribute check: this class's name when ``name`` is found twice."""
        if hasattr(self, name) and already_found:
            return f"{type(self).__module__}.{type(self).__name__}"
        return None


def generator_from_state(bit_state: dict[str, Any]) -> np.random.Generator:
    """A Generator whose bit generator (named in the state) is at ``bit_state``."""
    name = str(bit_state["bit_generator"])
    if name not in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64"):
        raise ValueError(f"unknown bit generator {name!r} in a saved env state")
    bit_generator = getattr(np.random, name)()
    bit_generator.state = bit_state
    return np.random.Generator(bit_generator)
