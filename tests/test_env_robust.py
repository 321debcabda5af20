"""Extreme settings and absurd markets: one-line option errors, ruin as a clean result, no inf/nan.

A ruined account (costs larger than the equity) is a result, not a crash: the single and the
batched env terminate it with finite numbers (hand-computed below). Absurd prices (1e300, a
persistent 1000x jump) give finite rewards; prices that would overflow the equity raise a
clear error instead of returning inf/nan. The options are documented once (``EnvParams``
field metadata) and the env docstring's table is generated from them.
"""

from __future__ import annotations

import math
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
from hand_market import hand_market
from hypothesis import given, settings
from hypothesis import strategies as st

import envs.trading_env
from envs import BatchedTradingEnv, MarketData, TradingEnv
from envs.market import check_window
from envs.params import EnvParams

RUIN = dict(fee_bps=5000, slippage_bps=0, funding=False, reward="log_return", max_drawdown=None)


def test_every_option_is_documented_once_and_in_the_env_docstrings():
    for f in fields(EnvParams):
        assert f.metadata["doc"] and f.metadata["valid"], f.name
        for doc in (TradingEnv.__doc__, envs.trading_env.__doc__):
            assert f"| ``{f.name}`` | ``{f.default!r}`` | {f.metadata['valid']} |" in doc
    assert "<<OPTIONS_TABLE>>" not in TradingEnv.__doc__ + envs.trading_env.__doc__


@pytest.mark.parametrize(
    ("name", "value", "valid"),
    [
        ("fee_bps", -1.0, "[0, 10000]"),
        ("fee_bps", 20000.0, "[0, 10000]"),
        ("fee_bps", float("nan"), "[0, 10000]"),
        ("slippage_bps", -0.5, "[0, 10000]"),
        ("max_drawdown", 0.0, "(0, 1] or null"),
        ("max_drawdown", 1.5, "(0, 1] or null"),
        ("reward", "sharpe", "one of drawdown, log_return, dsr"),
        ("fill", "open", "one of next_open, close"),
        ("action", "box", "one of discrete, continuous"),
        ("slippage_model", "spread", "one of fixed, range, vol"),
        ("decision_interval", 0, "an int >= 1"),
        ("episode_length", 0, "an int >= 1 or null"),
        ("episode_length", 7.5, "an int >= 1 or null"),
        ("long_only", "yes", "true or false"),
        ("reward_scale", math.inf, "(0, 1e6]"),
        ("initial_equity", 0.0, "(0, 1e12]"),
        ("ruin_fraction", 1.0, "(0, 1)"),
        ("dsr_eta", 0.0, "(0, 1)"),
    ],
)
def test_bad_option_is_one_line_naming_field_value_and_range(name, value, valid):
    with pytest.raises(ValueError) as err:
        EnvParams(**{name: value})
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith(f"{name}={value!r} is not valid: expected {valid} (")


@pytest.mark.parametrize("window", [0, -3, 2.5, True, "8"])
def test_bad_window_is_one_line(window):
    with pytest.raises(ValueError, match=rf"^window={window!r} is not valid: expected an int"):
        check_window(window)


def test_extreme_but_valid_options_are_accepted():
    p = EnvParams(fee_bps=5000, slippage_bps=10000, max_drawdown=1.0, episode_length=720.0)
    assert p.fee_bps == 5000 and p.max_drawdown == 1.0


def test_fee_5000_bps_ruins_the_account_hand_computed_single_and_batched():
    """BUY at open[1]=101 paying half the notional, then a flip to short at open[2]=103
    whose fee exceeds the equity: the mark at close[2]=104 is negative, the episode ends
    (ruin) with the reward's equity floored at the ruin level; every number finite."""
    u = 1.0 / 101.0
    cash = 1.0 - 1.0 - 0.5  # buy 1.0 of notional, fee 50 %
    e1 = cash + u * 102.0
    e_pre = cash + u * 103.0
    u2 = -e_pre / 103.0
    turnover = abs(u2 - u) * 103.0
    cash2 = cash - (u2 - u) * 103.0 - turnover * 0.5
    e2 = cash2 + u2 * 104.0
    assert 0.01 < e1 < 1.0 and e2 < 0.0  # hand check: ruined, equity below zero

    env = TradingEnv(hand_market(), **RUIN)
    env.reset(options={"start": 0})
    _, r1, term, trunc, info = env.step(2)
    assert not (term or trunc) and info["equity"] == pytest.approx(e1, abs=1e-15)
    assert r1 == pytest.approx(math.log(e1), abs=1e-12)
    obs, r2, term, trunc, info = env.step(0)
    assert term and not trunc
    assert info["equity"] == pytest.approx(e2, abs=1e-12)
    assert info["fee"] == pytest.approx(turnover * 0.5, abs=1e-12)
    assert r2 == pytest.approx(math.log(0.01 / e1) - 1.0, abs=1e-12)  # floored, penalty 1
    assert info["drawdown"] == pytest.approx(1.0 - e2, abs=1e-12)  # peak 1.0
    assert obs[-2] == 1.0  # the drawdown observation is clipped at 1
    assert env.observation_space.contains(obs)
    assert all(math.isfinite(v) for v in info.values())

    venv = BatchedTradingEnv(hand_market(), 2, seed=0, **RUIN)
    venv.set_options({"start": 0})
    venv.reset()
    venv.step(np.array([2, 1]))
    obs_b, rew_b, done_b, infos = venv.step(np.array([0, 1]))
    assert done_b.tolist() == [True, False]
    assert infos[0]["equity"] == info["equity"] and rew_b[0] == np.float32(r2)
    assert not infos[0]["TimeLimit.truncated"]
    np.testing.assert_array_equal(infos[0]["terminal_observation"], obs)
    assert np.isfinite(obs_b).all() and np.isfinite(rew_b).all()


def _market(close: np.ndarray) -> MarketData:
    idx = pd.date_range("2022-01-01", periods=len(close), freq="1h", tz="UTC")
    candles = pd.DataFrame(
        {"open": close, "high": close * 1.001, "low": close * 0.999, "close": close}, index=idx
    )
    return MarketData.build(candles, np.zeros((len(close), 1)), None, window=1)


ABSURD = {
    "1e300 bar": np.array([100.0] * 10 + [1e300] * 3 + [100.0] * 10 + [1e300] + [100.0] * 6),
    "1000x jump": np.concatenate([np.full(12, 100.0), np.full(18, 1e5)]),
    "1e-300 bar": np.array([100.0] * 10 + [1e-300] * 2 + [100.0] * 18),
}


@settings(max_examples=30, deadline=None)
@given(
    case=st.sampled_from(sorted(ABSURD)),
    action=st.sampled_from(["discrete", "continuous"]),
    fee_bps=st.sampled_from([0.0, 10.0, 5000.0, 10000.0]),
    slippage_model=st.sampled_from(["fixed", "range", "vol"]),
    reward=st.sampled_from(["drawdown", "log_return", "dsr"]),
    seed=st.integers(0, 1000),
)
def test_absurd_prices_and_costs_never_give_inf_or_nan(
    case, action, fee_bps, slippage_model, reward, seed
):
    opts = dict(
        action=action,
        fee_bps=fee_bps,
        slippage_bps=5.0,
        slippage_model=slippage_model,
        reward=reward,
        max_drawdown=None,
        episode_length=None,
    )
    venv = BatchedTradingEnv(_market(ABSURD[case]), 4, seed=seed, **opts)
    venv.reset()
    rng = np.random.default_rng(seed)
    for _ in range(40):
        if action == "discrete":
            a = rng.integers(0, 3, 4)
        else:
            a = rng.uniform(-1, 1, (4, 1)).astype(np.float32)
        try:
            obs, rew, _, infos = venv.step(a)
        except FloatingPointError as err:  # compounding over two 1e300 bars passes 1e308
            assert case == "1e300 bar" and "absurd prices" in str(err)
            return
        assert np.isfinite(obs).all() and np.isfinite(rew).all()
        for v in venv.last_info.values():
            assert np.isfinite(v).all()


def test_a_bar_whose_range_overflows_is_refused_at_build():
    close = np.array([100.0] * 5)
    idx = pd.date_range("2022-01-01", periods=5, freq="1h", tz="UTC")
    candles = pd.DataFrame({"open": close, "high": close, "low": close, "close": close}, index=idx)
    candles.iloc[2] = [1e-300, 1e300, 1e-300, 1.0]
    with pytest.raises(ValueError, match=r"^candles at 2022-01-01 02:00:00\+00:00: \(high - low\)"):
        MarketData.build(candles, np.zeros((5, 1)), None, window=1)


def test_equity_overflow_is_a_clear_error_not_inf():
    # long from 1e-200 into 1e200: the mark would be 1e400 (inf) in float64
    market = _market(np.array([1e-200] * 3 + [1e200] * 3))
    assert np.isfinite(market.vol).all() and market.vol.max() > 100  # log returns of 921
    env = TradingEnv(market, fee_bps=0, slippage_bps=0)
    env.reset(options={"start": 1})
    env.step(2)  # fills at open[2] = 1e-200
    with pytest.raises(FloatingPointError, match="absurd prices.*envs.data.clean"):
        env.step(2)
