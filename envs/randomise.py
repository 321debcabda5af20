"""Training-episode randomisation: random episode lengths, observation noise, cost multipliers.

Options of the batched TRAINING env (``BatchedTradingEnv(..., randomise=...)``; the agents'
config section ``env.randomise``), meant to keep a policy from fitting the one history it
trains on. Evaluation envs never take them: validation, ``evaluate``, backtests, walk-forward
scoring, ``predict`` and ``paper`` run at the real costs on clean observations (the agents
build their evaluation envs without this section).

| option | default | valid | meaning |
|---|---|---|---|
| ``episode_length_min`` | None | an int >= 1, <= ``episode_length`` | each episode's length (bars) drawn uniformly from ``[episode_length_min, episode_length]``; None: every episode ``episode_length`` bars |
| ``obs_noise_std`` | 0.0 | [0, 5] | std of Gaussian noise added to the normalised features of every observation (the window and any daily rows; not the 4 account values), then clipped to the observation space |
| ``fee_mult`` | None | ``[lo, hi]``, 0 <= lo <= hi <= 100 | each episode's fee rate is ``fee_bps`` x a multiplier drawn uniformly from ``[lo, hi]`` |
| ``slippage_mult`` | None | ``[lo, hi]``, 0 <= lo <= hi <= 100 | the same for the slippage rate (fixed + range/vol model) |
| ``market_weights`` | ``bars`` | ``bars`` or ``equal`` | several markets (``envs.multimarket``): an episode starts on a bar drawn uniformly over all markets' bars (``bars``), or on a market drawn uniformly first (``equal``) |

Episode starts are random already: every training episode starts on a decision bar drawn
uniformly from the split's valid ones (``TradingEnv`` "Episodes"). Every draw comes from the
account's own generator (the one that draws its starts, seeded ``seed + i``), after its start,
so a seeded run is reproducible, a resumed run continues it (the generators and the per-episode
multipliers and lengths are in the env's saved state), and with nothing set the env is the
plain one bit for bit. Costs drawn for an episode are charged like the real ones: in equity,
in the reward and in the info's ``fee``/``slippage``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

MARKET_WEIGHTS = ("bars", "equal")
MAX_MULT = 100.0  # a cost multiplier above 100x is a typo (1000 bps fees), not a robustness test
MAX_NOISE_STD = 5.0  # features are robust z-scores clipped to +-5: more noise is all noise


def _bad(name: str, value: Any, valid: str) -> ValueError:
    return ValueError(f"randomise.{name}={value!r} is not valid: expected {valid}")


def _mult_range(name: str, value: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` as a float pair with 0 <= lo <= hi <= MAX_MULT (None: off)."""
    if value is None:
        return None
    valid = f"null or a pair [lo, hi] with 0 <= lo <= hi <= {MAX_MULT:g} (e.g. [0.5, 2.0])"
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise _bad(name, value, valid)
    pair = []
    for x in value:
        if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
            raise _bad(name, value, valid)
        pair.append(float(x))
    lo, hi = pair
    if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi <= MAX_MULT):
        raise _bad(name, value, valid)
    return lo, hi


@dataclass(frozen=True)
class Randomisation:
    """The training-episode randomisation options (module doc); all off by default."""

    episode_length_min: int | None = None
    obs_noise_std: float = 0.0
    fee_mult: tuple[float, float] | None = None
    slippage_mult: tuple[float, float] | None = None
    market_weights: str = "bars"

    def __post_init__(self) -> None:
        n = self.episode_length_min
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1):
            raise _bad("episode_length_min", n, "null or an int >= 1 (bars)")
        s = self.obs_noise_std
        if (
            isinstance(s, bool)
            or not isinstance(s, (int, float, np.integer, np.floating))
            or not (math.isfinite(s) and 0.0 <= s <= MAX_NOISE_STD)
        ):
            raise _bad("obs_noise_std", s, f"a number in [0, {MAX_NOISE_STD:g}]")
        object.__setattr__(self, "fee_mult", _mult_range("fee_mult", self.fee_mult))
        object.__setattr__(self, "slippage_mult", _mult_range("slippage_mult", self.slippage_mult))
        if self.market_weights not in MARKET_WEIGHTS:
            raise _bad("market_weights", self.market_weights, "bars or equal")

    @classmethod
    def coerce(cls, value: Randomisation | dict[str, Any] | None) -> Randomisation:
        """A ``Randomisation`` from itself, a mapping of its options, or None (all off);
        an unknown option is refused naming the valid ones."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise ValueError(
                f"randomise must be a mapping of options, got {type(value).__name__}; "
                f"valid options: {', '.join(f.name for f in fields(cls))}"
            )
        unknown = sorted(set(map(str, value)) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(
                f"unknown randomise option(s) {unknown}; valid options: "
                + ", ".join(f.name for f in fields(cls))
            )
        return cls(**value)

    @property
    def active(self) -> bool:
        """Whether any per-episode or per-step draw happens (``market_weights`` aside)."""
        return (
            self.episode_length_min is not None
            or self.obs_noise_std > 0.0
            or self.fee_mult is not None
            or self.slippage_mult is not None
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (pairs as lists), the form a config file holds."""
        out = asdict(self)
        for k in ("fee_mult", "slippage_mult"):
            if out[k] is not None:
                out[k] = list(out[k])
        return out

    def check_length(self, episode_length: int | None) -> None:
        """Refuse ``episode_length_min`` without a finite ``episode_length`` above it."""
        n = self.episode_length_min
        if n is None:
            return
        if episode_length is None:
            raise ValueError(
                f"randomise.episode_length_min={n} needs a finite episode_length (the longest "
                "episode); set episode_length, e.g. 720"
            )
        if n > episode_length:
            raise ValueError(
                f"randomise.episode_length_min={n} is above episode_length={episode_length}; "
                "lengths are drawn from [episode_length_min, episode_length]"
            )


def draw_episode(
    r: Randomisation, rng: np.random.Generator, episode_length: int | None
) -> tuple[float | None, float, float]:
    """``(max bars or None for the default, fee multiplier, slippage multiplier)`` of one new
    training episode, drawn from ``rng`` in that order (only what is switched on)."""
    length: float | None = None
    if r.episode_length_min is not None and episode_length is not None:
        length = float(rng.integers(r.episode_length_min, episode_length + 1))
    fee = 1.0 if r.fee_mult is None else float(rng.uniform(*r.fee_mult))
    slip = 1.0 if r.slippage_mult is None else float(rng.uniform(*r.slippage_mult))
    return length, fee, slip


def add_noise(
    row: np.ndarray,
    n_window: int,
    std: float,
    rng: np.random.Generator,
    bound: float,
    daily_from: int | None = None,
) -> None:
    """Add N(0, std^2) float32 noise in place to one observation row's normalised features:
    its first ``n_window`` values (the window) and, from ``daily_from`` on, its daily rows
    (``envs.multiframe``); clipped to +-``bound`` (the space's bounds). The account values in
    between are left alone."""
    spans = [(0, n_window)]
    if daily_from is not None and daily_from < row.shape[0]:
        spans.append((daily_from, row.shape[0]))
    noise = rng.standard_normal(sum(b - a for a, b in spans), dtype=np.float32)
    noise *= np.float32(std)
    used = 0
    for a, b in spans:
        part = row[a:b]
        part += noise[used : used + b - a]
        np.clip(part, -bound, bound, out=part)
        used += b - a
