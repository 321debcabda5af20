"""``evaluate --stress`` (backtest.stress, evaluate.stress): the verdict at double costs and with
every fill one bar later, beside the normal one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backtest.baseline_table import named_spec
from backtest.runner import CostOverrides, run_policy
from backtest.stress import DelayedPolicy, delayed, doubled
from backtest.trend import DailyMomentumPolicy
from evaluate import cli


class _Shifted(DailyMomentumPolicy):
    """The daily momentum target one bar late by hand: the previous bar's target, flat at the
    first bar of each episode (the reference ``DelayedPolicy`` must reproduce)."""

    def act(self, obs_batch, bars):  # noqa: D102
        t = int(bars[0])
        prev = self.target[t - 1] if t - 1 == getattr(self, "_last", None) else 0.0
        self._last = t
        return super().act(obs_batch, bars) * 0 + (np.array([prev]) + 1).astype(np.int64)


def test_late_fill_is_the_target_shifted_one_bar() -> None:
    spec = named_spec("tsmom_long_flat")
    late = run_policy(delayed(spec), "btc1h", "val")
    by_hand = run_policy(named_spec("tsmom_long_flat").__class__(
        "x", "x", _Shifted(50), None, {"action": "discrete"}), "btc1h", "val")  # fmt: skip
    normal = run_policy(spec, "btc1h", "val")
    assert np.array_equal(late.equity, by_hand.equity)
    assert not np.array_equal(late.equity, normal.equity)
    # every position change happens one bar after the normal pass's
    moves = lambda bt: np.flatnonzero(np.diff(bt.positions) != 0)  # noqa: E731
    assert np.array_equal(moves(late)[:5], moves(normal)[:5] + 1)
    assert isinstance(delayed(spec).policy, DelayedPolicy)


def test_double_costs_doubles_fee_and_slippage_only() -> None:
    d = doubled(CostOverrides(fee_bps=5.0, funding=False))
    assert (d.fee_bps, d.slippage_bps, d.funding) == (10.0, 4.0, False)
    normal = run_policy("tsmom_long_flat", "btc1h", "val")
    twice = run_policy("tsmom_long_flat", "btc1h", "val", costs=doubled(CostOverrides()))
    env = twice.meta["env_settings"]
    assert (env["fee_bps"], env["slippage_bps"], env["funding"]) == (20.0, 4.0, True)
    first = int(np.flatnonzero(normal.fees)[0])  # the first trade: same equity in both passes
    assert twice.fees[first] == pytest.approx(2 * normal.fees[first], rel=1e-12)
    assert twice.slippage[first] == pytest.approx(2 * normal.slippage[first], rel=1e-12)
    assert twice.equity[-1] < normal.equity[-1]


def test_evaluate_stress_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "eval"
    argv = ["--env", "btc1h", "--split", "val", "--n-boot", "50", "--no-plots", "--stress",
            "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "Stress (same policies, same trials" in text and "2x costs Sharpe" in text
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["stress"]) == {"double_costs", "late_fill"}
    normal = m["policies"]["tsmom_long_flat"]
    twice = m["stress"]["double_costs"]["policies"]["tsmom_long_flat"]
    late = m["stress"]["late_fill"]["policies"]["tsmom_long_flat"]
    assert twice["costs_paid"] > normal["costs_paid"] and twice["sharpe"] < normal["sharpe"]
    assert late["sharpe"] != normal["sharpe"]
    assert m["stress"]["double_costs"]["policies"]["flat"]["total_return"] == 0.0
