"""Per-episode trading statistics of a batched env's training episodes (pure numpy).

The env (``envs.BatchedTradingEnv``) publishes every step's numbers for all N accounts in
``last_info``: a dict of (N,) arrays ``equity`` (account value after the step; the episode
starts at ``initial_equity``), ``position`` (target exposure held over the bar, in [-1, 1]),
and the amounts paid in the step ``fee``, ``slippage``, ``funding`` (equity units; funding
received is negative). Its per-env ``infos`` are empty dicts except on the last step, so the
arrays are the only complete record. ``EpisodeStats`` keeps each step's arrays until every env
that needs them has finished its episode, then summarises that env's episode.

Sharpe and drawdown come from ``backtest.metrics`` (the same maths as every backtest report).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from backtest.metrics import max_drawdown, position_shares, sharpe_ratio

PERIODS_PER_YEAR = 8760  # hourly bars, 24/7 markets
STEP_KEYS = ("equity", "position", "fee", "slippage", "funding")


def summarize_episode(
    equity: np.ndarray,
    position: np.ndarray,
    fee: np.ndarray,
    slippage: np.ndarray,
    funding: np.ndarray,
    start_equity: float = 1.0,
    periods_per_year: int = PERIODS_PER_YEAR,
) -> dict[str, float]:
    """The ``trading/`` scalars of one episode (names without the prefix).

    Arrays are per step (length n >= 1): equity after the step, position held over the bar,
    costs paid in the step. The episode starts flat at ``start_equity``.
    """
    eq = np.concatenate([[start_equity], np.asarray(equity, dtype=np.float64)])
    pos = np.asarray(position, dtype=np.float64)
    returns = eq[1:] / eq[:-1] - 1.0
    short, flat, long = position_shares(pos)
    paid = [float(np.sum(a)) / start_equity for a in (fee, slippage, funding)]
    return {
        "final_equity": float(eq[-1] / start_equity),
        # nan for a constant-return (e.g. always flat) episode; the callback skips nans
        "sharpe": sharpe_ratio(returns, periods_per_year),
        "max_drawdown": max_drawdown(eq),
        # sum of |change in exposure| from the flat start: 1.0 = one full notional traded
        "turnover": float(np.sum(np.abs(np.diff(np.concatenate([[0.0], pos]))))),
        # costs as fractions of the starting equity, like backtest.metrics.summarize
        "fees_paid": paid[0],
        "slippage_paid": paid[1],
        "funding_paid": paid[2],
        "costs_paid": sum(paid),
        "share_short": short,
        "share_flat": flat,
        "share_long": long,
        "episode_steps": float(pos.size),
    }


class EpisodeStats:
    """Accumulates N envs' step arrays; ``step`` returns summaries of episodes that ended."""

    def __init__(
        self, n_envs: int, start_equity: float = 1.0, periods_per_year: int = PERIODS_PER_YEAR
    ) -> None:
        self.n_envs = n_envs
        self.start_equity = start_equity
        self.periods_per_year = periods_per_year
        self._rows: list[np.ndarray] = []  # (len(STEP_KEYS), N) per step, oldest first
        self._offset = 0  # global step index of self._rows[0]
        self._step = 0  # global index of the next step
        self._start: np.ndarray = np.zeros(
            n_envs, dtype=np.int64
        )  # global step where each episode began

    def step(self, arrays: Mapping[str, np.ndarray], dones: np.ndarray) -> list[dict[str, float]]:
        """Add one VecEnv step (``arrays``: the env's ``last_info``; ``dones``: (N,) bool).

        For a done env the arrays hold its episode's final step (the reset comes after), so
        that step is counted, then the env's next episode starts at the next step.
        """
        row = np.stack([np.asarray(arrays[k], dtype=np.float64) for k in STEP_KEYS])
        self._rows.append(row)
        finished = []
        for i in np.flatnonzero(np.asarray(dones)).tolist():
            block = np.stack(self._rows[self._start[i] - self._offset :])[:, :, i]  # (n, keys)
            eq, pos, fee, slip, fund = block.T  # STEP_KEYS order
            finished.append(
                summarize_episode(
                    eq, pos, fee, slip, fund, self.start_equity, self.periods_per_year
                )
            )
            self._start[i] = self._step + 1
        self._step += 1
        drop = int(self._start.min()) - self._offset  # rows no running episode needs
        if drop > 0:
            del self._rows[:drop]
            self._offset += drop
        return finished

    def get_state(self) -> dict[str, np.ndarray]:
        """The unfinished episodes' step rows and clocks as plain arrays (a resume's state)."""
        rows = np.stack(self._rows) if self._rows else np.zeros((0, len(STEP_KEYS), self.n_envs))
        return {
            "rows": rows,
            "start": self._start.copy(),
            "clock": np.array([self._offset, self._step], dtype=np.int64),
        }

    def set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore :meth:`get_state` (same number of envs)."""
        rows, start = np.asarray(state["rows"], np.float64), np.asarray(state["start"], np.int64)
        if rows.shape[1:] != (len(STEP_KEYS), self.n_envs) or start.shape != (self.n_envs,):
            raise ValueError(
                f"episode statistics for {start.shape[0]} envs, this run has {self.n_envs}"
            )
        self._rows = list(rows)
        self._start = start.copy()
        self._offset, self._step = (int(v) for v in state["clock"])


class CostRates:
    """Running turnover, fees, slippage and funding of every account, as rates per year.

    Cheap (a few (N,) array sums per step) and independent of episodes ending (an episode of
    ``episode_length: null`` never ends): each step adds the env's ``last_info`` amounts as
    fractions of the account's equity after the step; ``rates()`` returns them per year of bars
    held over the window since the last call, then starts a new window. One agent step holds
    ``bars_per_step`` bars (``decision_interval``; a step cut short by an episode's end counts
    in full: a slight under-estimate of the rates).
    """

    KEYS = ("turnover", "fee", "slippage", "funding")

    def __init__(self, bars_per_step: int, periods_per_year: float) -> None:
        self.bars_per_step = bars_per_step
        self.periods_per_year = periods_per_year
        self._sums = np.zeros(len(self.KEYS))
        self._bars = 0.0

    def step(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Add one VecEnv step (``arrays``: the env's ``last_info``)."""
        equity = np.asarray(arrays["equity"], dtype=np.float64)
        safe = np.where(equity > 0.0, equity, np.inf)  # a ruined account adds nothing
        for j, key in enumerate(self.KEYS):
            self._sums[j] += float(np.sum(np.asarray(arrays[key], dtype=np.float64) / safe))
        self._bars += equity.size * self.bars_per_step

    def rates(self) -> dict[str, float] | None:
        """``{round_trips_per_year, fees_per_year, slippage_per_year, funding_per_year}`` of
        the window (fractions of equity; a round trip is two units of turnover), or None for
        an empty window; then a new window starts."""
        if self._bars == 0:
            return None
        per_year = self._sums * (self.periods_per_year / self._bars)
        out = {
            "round_trips_per_year": float(per_year[0] / 2.0),
            "fees_per_year": float(per_year[1]),
            "slippage_per_year": float(per_year[2]),
            "funding_per_year": float(per_year[3]),
        }
        self._sums[:] = 0.0
        self._bars = 0.0
        return out
