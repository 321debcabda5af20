"""Hand-computed accounting of the action rules (envs.actions): no-trade band, minimum hold,
volatility target, leverage cap, durations in time units.

Every expected number is written out as arithmetic on the hand-made prices of
``hand_market`` (OPEN 100 101 103 105 99 97 96, CLOSE 100 102 104 100 98 96 95, hourly),
never by calling the env's own helpers.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hand_market import CLOSE, OPEN, hand_market

import envs.actions
from envs import MarketData, TradingEnv
from envs import kernel as K
from envs.actions import duration_bars, realised_vol
from envs.params import EnvParams

HOUR_NS = 3_600_000_000_000
KW = dict(fee_bps=10, slippage_bps=0, funding=False, reward="log_return", max_drawdown=None)


def f32(x: float) -> float:
    """The float32 value a continuous action carries."""
    return float(np.float32(x))


def test_no_trade_band_keeps_the_position_inside_the_band_at_no_cost():
    env = TradingEnv(hand_market(), action="continuous", no_trade_band=0.3, **KW)
    env.reset(options={"start": 0})
    # 0 -> 0.5: |0.5 - 0| > 0.3, trade at open[1] = 101 with equity 1
    u = 0.5 / 101.0
    cash = 1.0 - 0.5 - 0.5 * 0.001
    _, r, _, _, info = env.step(np.array([0.5], np.float32))
    e1 = cash + u * 102.0
    assert (info["position"], info["turnover"], info["fee"]) == (0.5, 0.5, 0.5 * 0.001)
    assert info["equity"] == pytest.approx(e1, abs=1e-15)
    # 0.7: |0.7 - 0.5| <= 0.3: keep 0.5, no trade, no cost
    _, r, _, _, info = env.step(np.array([0.7], np.float32))
    e2 = cash + u * 104.0
    assert (info["position"], info["turnover"], info["fee"]) == (0.5, 0.0, 0.0)
    assert info["equity"] == pytest.approx(e2, abs=1e-15)
    assert r == pytest.approx(math.log(e2 / e1), abs=1e-15)
    # 0.85: |0.85 - 0.5| > 0.3: trade to 0.85 at open[3] = 105
    w = f32(0.85)
    e_pre = cash + u * 105.0
    u3 = w * e_pre / 105.0
    turnover = (u3 - u) * 105.0
    cash = cash - (u3 - u) * 105.0 - turnover * 0.001
    obs, r, _, _, info = env.step(np.array([0.85], np.float32))
    e3 = cash + u3 * 100.0
    assert info["position"] == w and obs[-4] == np.float32(w)
    assert info["turnover"] == pytest.approx(turnover, abs=1e-15)
    assert info["fee"] == pytest.approx(turnover * 0.001, abs=1e-15)
    assert info["equity"] == pytest.approx(e3, abs=1e-14)
    assert r == pytest.approx(math.log(e3 / e2), abs=1e-14)
    # 0.6: |0.6 - 0.85| <= 0.3: keep, the mark at close[4] = 98 only
    _, r, _, _, info = env.step(np.array([0.6], np.float32))
    assert (info["position"], info["turnover"]) == (w, 0.0)
    assert info["equity"] == pytest.approx(cash + u3 * 98.0, abs=1e-14)


def test_band_edge_is_kept_and_a_band_below_one_never_binds_discrete_targets():
    env = TradingEnv(hand_market(), action="continuous", no_trade_band=0.25, **KW)
    env.reset(options={"start": 0})
    env.step(np.array([0.5], np.float32))
    info = env.step(np.array([0.75], np.float32))[4]  # exactly 0.25 away: inside, kept
    assert (info["position"], info["turnover"]) == (0.5, 0.0)
    plain, banded = (
        TradingEnv(hand_market(), **KW),
        TradingEnv(hand_market(), no_trade_band=0.99, **KW),
    )
    for env in (plain, banded):
        env.reset(options={"start": 0})
    for a in (2, 0, 1, 2, 2, 1):
        assert plain.step(a)[4] == banded.step(a)[4]


def test_min_hold_freezes_the_position_for_h_bars_after_each_trade():
    for min_hold in (2, "2h"):
        env = TradingEnv(hand_market(), min_hold=min_hold, **KW)
        env.reset(options={"start": 0})
        # BUY at open[1] = 101
        u1 = 1.0 / 101.0
        cash = 1.0 - 1.0 - 0.001
        info = env.step(2)[4]
        assert info["position"] == 1.0 and info["equity"] == pytest.approx(cash + u1 * 102.0)
        # SELL one bar after the trade: frozen, long kept, no cost
        info = env.step(0)[4]
        assert (info["position"], info["turnover"], info["fee"]) == (1.0, 0.0, 0.0)
        assert info["equity"] == pytest.approx(cash + u1 * 104.0, abs=1e-15)
        # SELL two bars after: free, flip at open[3] = 105
        e_pre = cash + u1 * 105.0
        u2 = -e_pre / 105.0
        turnover = (u1 - u2) * 105.0
        cash = cash - (u2 - u1) * 105.0 - turnover * 0.001
        info = env.step(0)[4]
        assert info["position"] == -1.0
        assert info["turnover"] == pytest.approx(turnover, abs=1e-14)
        assert info["equity"] == pytest.approx(cash + u2 * 100.0, abs=1e-14)
        # HOLD (flat) one bar after the flip: frozen short (exits are trades too)
        info = env.step(1)[4]
        assert (info["position"], info["turnover"]) == (-1.0, 0.0)
        assert info["equity"] == pytest.approx(cash + u2 * 98.0, abs=1e-14)
        # HOLD two bars after: flat at open[5] = 97
        turnover = -u2 * 97.0
        info = env.step(1)[4]
        assert info["position"] == 0.0
        assert info["equity"] == pytest.approx(cash + u2 * 97.0 - turnover * 0.001, abs=1e-14)


def test_min_hold_counts_bars_across_a_decision_interval():
    """k=2, min_hold=3: BUY at bar 0 (holds bars 1, 2); the SELL decided at bar 2 is 2 bars
    after the trade (frozen); the SELL decided at bar 4 is 4 bars after (a flip at open[5])."""
    env = TradingEnv(hand_market(), decision_interval=2, min_hold=3, **KW)
    env.reset(options={"start": 0})
    assert env.step(2)[4]["position"] == 1.0
    info = env.step(0)[4]
    assert (info["position"], info["turnover"], info["bar"]) == (1.0, 0.0, 4)
    info = env.step(0)[4]
    assert info["position"] == -1.0 and info["turnover"] > 0.0


def sigma_by_hand(t: int, window: int) -> float:
    """Annualised std (ddof 0) of the last ``window`` log close returns ending at bar t."""
    r = [math.log(CLOSE[i] / CLOSE[i - 1]) for i in range(t - window + 1, t + 1)]
    mean = sum(r) / len(r)
    return math.sqrt(sum((x - mean) ** 2 for x in r) / len(r)) * math.sqrt(8760.0)


def test_vol_target_scales_the_action_by_target_over_realised_vol():
    sigma = sigma_by_hand(3, 3)  # returns of bars 1, 2, 3
    assert sigma == pytest.approx(2.5957, abs=1e-4)
    env = TradingEnv(hand_market(), action="continuous", vol_target=2.0, vol_window=3, **KW)
    env.reset(options={"start": 3})
    assert env.tables.sigma[3] == pytest.approx(sigma, rel=1e-12)
    w = 0.5 * 2.0 / sigma
    _, r, _, _, info = env.step(np.array([0.5], np.float32))
    assert info["position"] == pytest.approx(w, rel=1e-12)
    # fill at open[4] = 99 with equity 1: notional w, units w / 99, mark at close[4] = 98
    e1 = 1.0 - w - w * 0.001 + w / 99.0 * 98.0
    assert info["turnover"] == pytest.approx(w, rel=1e-12)
    assert info["equity"] == pytest.approx(e1, rel=1e-12)
    assert r == pytest.approx(math.log(e1), rel=1e-10)


def test_vol_target_is_capped_by_max_leverage_and_flat_without_an_estimate():
    opts = dict(action="continuous", vol_target=9.0, vol_window="3h", max_leverage=1.5, **KW)
    env = TradingEnv(hand_market(), **opts)
    assert env.observation_space.high[-4] == 1.5 and env.observation_space.low[-4] == -1.5
    env.reset(options={"start": 3})
    obs, _, _, _, info = env.step(np.array([-0.9], np.float32))  # -0.9 * 9 / 2.60 < -1.5
    assert info["position"] == -1.5 and obs[-4] == -1.5
    assert info["turnover"] == pytest.approx(1.5, abs=1e-15)  # |u| * 99 = 1.5 * equity 1
    env.reset(options={"start": 1})  # one return since the start: no estimate, flat
    info = env.step(np.array([1.0], np.float32))[4]
    assert (info["position"], info["turnover"]) == (0.0, 0.0)
    info = env.step(np.array([1.0], np.float32))[4]  # bar 2: two returns, an estimate
    assert info["position"] == 1.5


def test_discrete_actions_with_a_vol_target_are_directions_scaled_to_the_risk():
    env = TradingEnv(hand_market(), vol_target=2.0, vol_window=3, **KW)
    env.reset(options={"start": 3})
    info = env.step(0)[4]  # SELL: -1 * 2 / sigma_3
    assert info["position"] == pytest.approx(-2.0 / sigma_by_hand(3, 3), rel=1e-12)


def test_realised_vol_uses_no_future_bar():
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(300)))
    seg = np.repeat([0, 1], [170, 130])
    full = realised_vol(close, seg, 48, HOUR_NS)
    for t in range(0, 300, 7):
        np.testing.assert_array_equal(
            realised_vol(close[: t + 1], seg[: t + 1], 48, HOUR_NS), full[: t + 1]
        )
    assert full[170] == 0.0 and full[171] == 0.0 and full[172] > 0.0  # restarts after the gap


def test_vol_target_decision_is_unchanged_by_bars_after_it():
    """Two markets equal up to bar 3's close and wildly different after: the same position."""
    a = hand_market()
    c = pd.DataFrame(
        {
            "open": OPEN,
            "close": CLOSE,
            "high": np.maximum(OPEN, CLOSE) + 1,
            "low": np.minimum(OPEN, CLOSE) - 1,
            "volume": 1.0,
        },
        index=pd.date_range("2021-01-01", periods=7, freq="1h", tz="UTC", name="timestamp"),
    )
    c.iloc[4:, [1, 2, 3]] *= 3.0  # closes, highs and lows of bars 4.. move (the open[4] fill too)
    c.iloc[4:, 0] *= 3.0
    c["high"] = c[["open", "close", "high"]].max(axis=1)
    b = MarketData.build(c, np.arange(7.0)[:, None] * np.array([[1.0, -1.0]]), None, window=1)
    positions = []
    for m in (a, b):
        env = TradingEnv(m, action="continuous", vol_target=1.0, vol_window=3, **KW)
        env.reset(options={"start": 3})
        positions.append(env.step(np.array([0.7], np.float32))[4]["position"])
    assert positions[0] == positions[1]


@pytest.mark.parametrize(
    ("value", "bar", "bars"),
    [("1d", "1h", 24), ("1d", "4h", 6), ("3d", "1d", 3), ("90m", "30m", 3), (5, "1h", 5)],
)
def test_durations_convert_with_the_bar_size(value, bar, bars):
    ns = {"30m": HOUR_NS // 2, "1h": HOUR_NS, "4h": 4 * HOUR_NS, "1d": 24 * HOUR_NS}[bar]
    assert duration_bars("decision_interval", value, ns) == bars


def test_decision_interval_in_time_units_is_the_bar_count():
    by_time = TradingEnv(hand_market(), decision_interval="2h", **KW)
    by_bars = TradingEnv(hand_market(), decision_interval=2, **KW)
    assert by_time.params == by_bars.params and by_time.params.decision_interval == 2
    for env in (by_time, by_bars):
        env.reset(options={"start": 0})
    for a in (2, 0, 1):
        assert by_time.step(a)[4] == by_bars.step(a)[4]


@pytest.mark.parametrize(
    ("opts", "fragment"),
    [
        (
            dict(decision_interval="90m"),
            "decision_interval='90m' is not a whole number of 1h bars (1.5)",
        ),
        (dict(min_hold="30m"), "min_hold='30m' is not a whole number of 1h bars (0.5)"),
        (dict(vol_window="1h"), "vol_window='1h' is 1 bar of 1h"),
        (
            dict(decision_interval="1 day"),
            "decision_interval='1 day' is not valid: expected an int >= 1 (bars) or a duration",
        ),
        (dict(no_trade_band=-0.1), "no_trade_band=-0.1 is not valid: expected [0, 2]"),
        (dict(min_hold=-1), "min_hold=-1 is not valid: expected an int >= 0 (bars)"),
        (dict(vol_target=0.0), "vol_target=0.0 is not valid: expected (0, 10] or null"),
        (dict(max_leverage=0.0), "max_leverage=0.0 is not valid: expected (0, 10]"),
        (dict(vol_window=1), "vol_window=1 is not valid: expected an int >= 2"),
    ],
)
def test_bad_action_rule_values_are_refused_with_one_line(opts, fragment):
    with pytest.raises(ValueError) as err:
        TradingEnv(hand_market(), **opts)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_params_in_bars_resolve_once():
    p = EnvParams(decision_interval="1d", min_hold="3d", vol_window="30d").in_bars(HOUR_NS)
    assert (p.decision_interval, p.min_hold, p.vol_window) == (24, 72, 720)
    assert p.in_bars(HOUR_NS) is p


def test_the_kernel_cache_is_tied_to_the_action_rules_source():
    """numba caches the kernel keyed on envs/kernel.py only; the rules inlined from
    envs/actions.py must invalidate it too (envs.kernel._tie_cache_to)."""
    digest = hashlib.sha256(Path(envs.actions.__file__).read_bytes()).hexdigest()
    for fn in (K.step_accounts, K.step_one):
        assert digest in fn._cache._cache_file._source_stamp
