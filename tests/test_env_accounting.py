"""Hand-computed accounting of TradingEnv: fills, fees, slippage, funding, rewards.

Every expected number below is written out as arithmetic on the hand-made
prices (never by calling the env's own helpers).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hand_market import hand_market

from envs import MarketData, TradingEnv

# settlements at the close of bar 1 (01:00 open -> 02:00 close), bar 2 and bar 4
FUNDING = pd.Series(
    [0.0005, 0.001, 0.002],
    index=pd.DatetimeIndex(["2021-01-01T02:00", "2021-01-01T03:00", "2021-01-01T05:00"], tz="UTC"),
)


def test_five_bar_scenario_long_flip_short_hold_flat():
    env = TradingEnv(
        hand_market(FUNDING),
        fee_bps=10,
        slippage_bps=5,
        reward="log_return",
        max_drawdown=None,
        funding=True,
    )
    obs, _ = env.reset(options={"start": 0})
    assert obs.shape == (1 * 2 + 4,)
    assert obs.tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    cost = 0.001 + 0.0005  # fee + slippage per unit of notional traded

    # step 0 (decide at bar 0's close): BUY -> fill at open[1] = 101 with equity 1
    u1 = 1.0 / 101.0
    cash = 1.0 - u1 * 101.0 - 1.0 * cost  # turnover 1.0
    fund1 = 0.0005 * u1 * 102.0  # settlement at bar 1's close, long pays
    cash -= fund1
    e1 = cash + u1 * 102.0
    assert e1 == pytest.approx(1.0078960396, abs=1e-9)
    obs, r, term, trunc, info = env.step(2)
    assert info["fee"] == pytest.approx(0.001, abs=1e-15)
    assert info["slippage"] == pytest.approx(0.0005, abs=1e-15)
    assert info["turnover"] == pytest.approx(1.0, abs=1e-15)
    assert info["funding"] == pytest.approx(fund1, abs=1e-15) and fund1 > 0
    assert info["equity"] == pytest.approx(e1, abs=1e-12)
    assert r == pytest.approx(math.log(e1 / 1.0), abs=1e-12)
    assert (term, trunc, info["bar"], info["position"]) == (False, False, 1, 1.0)
    # account: long, unrealised 102/101-1 since the 101 fill, no drawdown, held 1 bar
    np.testing.assert_allclose(
        obs[2:], [1.0, 102 / 101 - 1, 0.0, math.log1p(1) / math.log1p(720)], rtol=1e-6
    )
    np.testing.assert_array_equal(obs[:2], [1.0, -1.0])  # bar 1's features

    # step 1: SELL -> flip to short at open[2] = 103
    e_pre = cash + u1 * 103.0
    u2 = -e_pre / 103.0
    turnover = (u1 - u2) * 103.0  # = e_pre + u1 * 103
    cash = cash - (u2 - u1) * 103.0 - turnover * cost
    fund2 = 0.001 * u2 * 104.0  # short receives: negative payment
    cash -= fund2
    e2 = cash + u2 * 104.0
    assert turnover == pytest.approx(2.0375990099, abs=1e-9)
    obs, r, term, trunc, info = env.step(0)
    assert info["turnover"] == pytest.approx(turnover, abs=1e-12)
    assert info["fee"] == pytest.approx(turnover * 0.001, abs=1e-12)
    assert info["slippage"] == pytest.approx(turnover * 0.0005, abs=1e-12)
    assert info["funding"] == pytest.approx(fund2, abs=1e-15) and fund2 < 0
    assert info["equity"] == pytest.approx(e2, abs=1e-12)
    assert r == pytest.approx(math.log(e2 / e1), abs=1e-12)
    peak = e1  # e2 < e1: the short lost on 103 -> 104
    assert e2 < e1
    np.testing.assert_allclose(
        obs[2:], [-1.0, -(104 / 103 - 1), 1 - e2 / peak, math.log1p(1) / math.log1p(720)], rtol=1e-6
    )

    # step 2: SELL again -> same target: no trade, no cost; no funding at bar 3's close
    e3 = cash + u2 * 100.0
    obs, r, term, trunc, info = env.step(0)
    assert (info["fee"], info["slippage"], info["turnover"], info["funding"]) == (
        0.0,
        0.0,
        0.0,
        0.0,
    )
    assert info["equity"] == pytest.approx(e3, abs=1e-12)
    assert r == pytest.approx(math.log(e3 / e2), abs=1e-12)
    np.testing.assert_allclose(
        obs[2:], [-1.0, -(100 / 103 - 1), 0.0, math.log1p(2) / math.log1p(720)], rtol=1e-6
    )
    assert e3 > e1  # new peak: drawdown 0

    # step 3: HOLD = go flat at open[4] = 99; flat: the 0.002 settlement at bar 4's close is 0
    e_pre = cash + u2 * 99.0
    turnover = -u2 * 99.0
    cash = cash - (0.0 - u2) * 99.0 - turnover * cost
    e4 = cash
    assert e4 == pytest.approx(e_pre - turnover * cost, abs=1e-12)
    obs, r, term, trunc, info = env.step(1)
    assert info["funding"] == 0.0 and info["position"] == 0.0
    assert info["turnover"] == pytest.approx(turnover, abs=1e-12)
    assert info["equity"] == pytest.approx(e4, abs=1e-12)
    assert r == pytest.approx(math.log(e4 / e3), abs=1e-12)
    assert e4 > e3  # the short gained on the 100 -> 99 overnight move: a new peak
    np.testing.assert_allclose(obs[2:], [0.0, 0.0, 0.0, 0.0], atol=1e-7)

    # step 4: HOLD again: nothing happens; flat equity is constant
    obs, r, term, trunc, info = env.step(1)
    assert info["equity"] == e4 and r == 0.0
    # the numbers, rounded, for the record
    assert e4 == pytest.approx(1.05382700, abs=1e-8)


def test_fill_close_trades_at_the_decision_bar_close():
    """fill="close" buys at close[0]=100 (optimistic); next_open buys at open[1]=101."""
    kw = dict(fee_bps=0, slippage_bps=0, funding=False, reward="log_return", max_drawdown=None)
    e_close = TradingEnv(hand_market(), fill="close", **kw)
    e_open = TradingEnv(hand_market(), fill="next_open", **kw)
    e_close.reset(options={"start": 0})
    e_open.reset(options={"start": 0})
    _, _, _, _, ic = e_close.step(2)
    _, _, _, _, io = e_open.step(2)
    assert ic["equity"] == pytest.approx(102.0 / 100.0, abs=1e-12)
    assert io["equity"] == pytest.approx(102.0 / 101.0, abs=1e-12)
    # flat at the next decision: close fill sells at close[1]=102, next_open at open[2]=103
    _, _, _, _, ic = e_close.step(1)
    _, _, _, _, io = e_open.step(1)
    assert ic["equity"] == pytest.approx(102.0 / 100.0, abs=1e-12)
    assert io["equity"] == pytest.approx(103.0 / 101.0, abs=1e-12)


@pytest.mark.parametrize("action,sign", [(2, 1.0), (0, -1.0)])
def test_funding_sign_long_pays_short_receives(action, sign):
    env = TradingEnv(
        hand_market(FUNDING), fee_bps=0, slippage_bps=0, reward="log_return", max_drawdown=None
    )
    env.reset(options={"start": 0})
    _, _, _, _, info = env.step(action)
    notional = 102.0 / 101.0  # |units| * close[1] with units = 1/101
    assert info["funding"] == pytest.approx(sign * 0.0005 * notional, abs=1e-15)
    expected = 1.0 + sign * (102.0 / 101.0 - 1.0) - sign * 0.0005 * notional
    assert info["equity"] == pytest.approx(expected, abs=1e-12)
    env_off = TradingEnv(hand_market(FUNDING), fee_bps=0, slippage_bps=0, funding=False)
    env_off.reset(options={"start": 0})
    assert env_off.step(action)[4]["funding"] == 0.0


def test_funding_alignment_and_unmatched_count():
    # one settlement at a bar's close, one before the data, one inside no bar's close
    f = pd.Series(
        [0.01, 0.02, 0.03],
        index=pd.DatetimeIndex(
            ["2020-12-31T00:00", "2021-01-01T03:00", "2021-01-01T09:00"], tz="UTC"
        ),
    )
    m = hand_market(f)
    expected = np.zeros(7)
    expected[2] = 0.02  # bar 2 opens 02:00, closes 03:00
    np.testing.assert_array_equal(m.funding, expected)
    assert m.funding_unmatched == 2


def test_slippage_models():
    m = hand_market()
    base = dict(fee_bps=0, slippage_bps=2, funding=False, reward="log_return", max_drawdown=None)
    # range: fill bar is bar 1 (next_open): (high - low) / open = (102+1 - (101-1)) / 101
    env = TradingEnv(m, slippage_model="range", slippage_coef=0.1, **base)
    env.reset(options={"start": 0})
    info = env.step(2)[4]
    assert info["slippage"] == pytest.approx(1.0 * (0.0002 + 0.1 * 3.0 / 101.0), abs=1e-15)
    # range with fill="close": the fill bar is bar 0: (101 - 99) / 100
    env = TradingEnv(m, slippage_model="range", slippage_coef=0.1, fill="close", **base)
    env.reset(options={"start": 0})
    assert env.step(2)[4]["slippage"] == pytest.approx(0.0002 + 0.1 * 2.0 / 100.0, abs=1e-15)
    # vol at decision bar 2: std (ddof 0) of the log returns of bars 1 and 2 (in-segment)
    r = [math.log(102 / 100), math.log(104 / 102)]
    mu = sum(r) / 2
    sigma = math.sqrt(sum((x - mu) ** 2 for x in r) / 2)
    env = TradingEnv(m, slippage_model="vol", slippage_coef=0.5, **base)
    env.reset(options={"start": 2})
    info = env.step(2)[4]
    assert info["slippage"] == pytest.approx(info["turnover"] * (0.0002 + 0.5 * sigma), abs=1e-15)
    assert info["turnover"] == pytest.approx(1.0, abs=1e-15)


def test_drawdown_reward_penalises_only_drawdown_increases():
    env = TradingEnv(
        hand_market(),
        fee_bps=0,
        slippage_bps=0,
        funding=False,
        reward="drawdown",
        dd_penalty=2.0,
        max_drawdown=None,
    )
    env.reset(options={"start": 2})
    # long at open[3]=105, close 100: E = 100/105, DD from 0 to 1 - E
    _, r, *_ = env.step(2)
    e = 100.0 / 105.0
    assert r == pytest.approx(math.log(e) - 2.0 * (1.0 - e), abs=1e-12)
    # still long: close 98 (bar 4 opened 99: no trade), DD grows again
    _, r, *_ = env.step(2)
    e2 = e * 98.0 / 100.0
    assert r == pytest.approx(math.log(e2 / e) - 2.0 * ((1.0 - e2) - (1.0 - e)), abs=1e-12)
    # short over bar 5 (fill 97, close 96): gains, DD shrinks, no bonus for recovering
    _, r, *_ = env.step(0)
    e3 = e2 * 97.0 / 98.0 * (1.0 + (97.0 - 96.0) / 97.0)
    assert r == pytest.approx(math.log(e3 / e2), abs=1e-12)


def test_dsr_reward_matches_moody_saffell_recursion():
    eta, var0 = 0.1, 1e-4
    env = TradingEnv(
        hand_market(),
        fee_bps=0,
        slippage_bps=0,
        funding=False,
        reward="dsr",
        dsr_eta=eta,
        dsr_var0=var0,
        max_drawdown=None,
    )
    env.reset(options={"start": 0})
    a, b = 0.0, var0
    for action, ret in ((2, math.log(102 / 101)), (2, math.log(104 / 102))):
        _, r, *_ = env.step(action)
        da, db = ret - a, ret * ret - b
        expected = (b * da - 0.5 * a * db) / (b - a * a) ** 1.5
        assert r == pytest.approx(expected, rel=1e-9)
        a, b = a + eta * da, b + eta * db


def test_rewards_sum_to_log_equity_ratio_with_zero_dd_penalty(make_candles):
    candles = make_candles(400, seed=3)
    feats = np.random.default_rng(1).standard_normal((400, 3))
    m = MarketData.build(candles, feats, None, window=4)
    env = TradingEnv(
        m,
        dd_penalty=0.0,
        episode_length=None,
        max_drawdown=None,
        fee_bps=10,
        slippage_bps=3,
        slippage_model="vol",
    )
    env.reset(seed=0, options={"start": 3})
    rng = np.random.default_rng(5)
    total, done, info = 0.0, False, {}
    while not done:
        _, r, term, trunc, info = env.step(int(rng.integers(3)))
        total += r
        done = term or trunc
    assert not term and info["bar"] == 399
    assert total == pytest.approx(math.log(info["equity"] / 1.0), abs=1e-9)


def test_continuous_action_sizes_the_position():
    env = TradingEnv(
        hand_market(),
        action="continuous",
        fee_bps=0,
        slippage_bps=0,
        funding=False,
        reward="log_return",
        max_drawdown=None,
    )
    env.reset(options={"start": 0})
    info = env.step(np.array([0.5], dtype=np.float32))[4]
    # half the equity long at 101, marked at 102
    assert info["equity"] == pytest.approx(0.5 + 0.5 * 102.0 / 101.0, abs=1e-12)
    info = env.step(np.array([7.0], dtype=np.float32))[4]  # clipped to +1
    assert info["position"] == 1.0
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan], dtype=np.float32))
    lo = TradingEnv(hand_market(), action="continuous", long_only=True)
    lo.reset(options={"start": 0})
    assert lo.step(np.array([-0.7], dtype=np.float32))[4]["position"] == 0.0


def test_long_only_maps_sell_to_flat():
    env = TradingEnv(hand_market(), long_only=True, fee_bps=0, slippage_bps=0)
    env.reset(options={"start": 0})
    info = env.step(0)[4]
    assert info["position"] == 0.0 and info["equity"] == 1.0


def test_bad_options_give_clear_errors():
    with pytest.raises(ValueError, match="reward='sharpe'.*drawdown"):
        TradingEnv(hand_market(), reward="sharpe")
    with pytest.raises(TypeError, match="unknown env option.*fees_bps"):
        TradingEnv(hand_market(), fees_bps=3)
    env = TradingEnv(hand_market())
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="discrete action"):
        env.step(3)
