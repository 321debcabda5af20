"""Agents on the portfolio env (issue 21): one allocation policy across a universe of markets.

``python -m agents.ppo --env btc1h,eth1h[,path/to/sol.csv.gz]`` (a COMMA list: one universe,
one account holding every member) trains PPO on ``envs.portfolio`` with the shared-weight asset
policy (``policies.asset_set``). A space-separated ``--env a b`` is something else: multi-market
training of one single-asset policy.

* ``agents.portfolio.train``: the command line, the run folder, PPO, selection on val.
* ``agents.portfolio.policy``: a run's policy as an allocation (``decide``) for the backtest,
  saved and loaded as plain tensors + JSON (nothing loaded from a file executes code).
"""

from __future__ import annotations

from agents.portfolio.policy import NetAllocator, load_run_policy, save_policy
from agents.portfolio.train import is_universe, run

__all__ = ["NetAllocator", "is_universe", "load_run_policy", "run", "save_policy"]
