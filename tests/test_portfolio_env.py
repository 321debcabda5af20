"""The portfolio env (envs.portfolio): one-asset parity with TradingEnv, conservation per asset,
alignment without forward-fill, weights, Gymnasium's checker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv

from envs.market import MarketData
from envs.portfolio import PortfolioAccounts, PortfolioEnv, Universe, make_portfolio_env
from envs.portfolio.batched import BatchedPortfolioEnv
from envs.portfolio.weights import to_weights
from envs.registry import load_market, split_range
from envs.trading_env import TradingEnv


def _market(seed: int, n: int = 300, start: str = "2024-01-01", drop: tuple[int, ...] = ()):
    """A small random-walk market with funding every 8 bars (features: two lagged returns)."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.001, n))
    idx = pd.date_range(start, periods=n, freq="1h", tz="UTC")
    keep = np.setdiff1d(np.arange(n), drop)
    candles = pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.001,
         "low": np.minimum(open_, close) * 0.999, "close": close}, index=idx
    ).iloc[keep]  # fmt: skip
    ret = np.log(candles["close"]).diff()
    feats = pd.DataFrame({"r1": ret, "r2": ret.shift(1)}, index=candles.index)
    settle = candles.index[::8] + pd.Timedelta("1h")
    funding = pd.Series(rng.normal(1e-4, 2e-4, len(settle)), index=settle)
    return MarketData.build(candles, feats, funding, window=4, freq="1h")


def test_one_asset_reproduces_the_single_env_bit_for_bit():
    """Real BTC val bars, random exposures: equity, fee, slippage, funding equal at every step."""
    market, _ = load_market("btc1h", "core17", 16)
    lo, hi = split_range(market, "btc1h", "val")
    single = TradingEnv(market, (lo, hi), action="continuous", episode_length=None)
    port = PortfolioEnv(Universe.align([market], ["btc"]), (lo, hi), mode="long_short",
                        episode_length=None)  # fmt: skip
    t0 = int(single.tables.starts[100])
    single.reset(options={"start": t0})
    port.reset(options={"start": t0})
    rng = np.random.default_rng(0)
    actions = rng.choice([-1.0, -0.5, 0.0, 0.3, 1.0, 1.0], size=400).astype(np.float32)
    n_checked, funded = 0, 0
    for a in actions:
        _, r1, term1, trunc1, i1 = single.step(np.array([a], dtype=np.float32))
        _, r2, term2, trunc2, i2 = port.step(np.array([a], dtype=np.float32))
        for key in ("equity", "fee", "slippage", "funding", "turnover", "drawdown"):
            assert i1[key] == i2[key], (key, n_checked, i1[key], i2[key])
        assert r1 == r2 and (term1, trunc1) == (term2, trunc2) and i1["bar"] == i2["bar"]
        n_checked += 1
        funded += i1["funding"] != 0.0
        if term1 or trunc1:
            break
    assert n_checked > 100 and funded > 10  # settlements were charged and compared


def test_conservation_per_asset_with_random_weights():
    """Equity changes only by the assets' P&L and the costs charged (3 assets, long/short)."""
    markets = [_market(s) for s in (1, 2, 3)]
    acc = PortfolioAccounts(Universe.align(markets, ["a", "b", "c"]), 4, mode="long_short",
                            gross_cap=1.5, episode_length=None, max_drawdown=None)  # fmt: skip
    for a in range(4):
        acc.reset_account(a, 10)
    rng = np.random.default_rng(7)
    for _ in range(200):
        before = acc.scal[:, 4].copy()  # P_EQ
        _, done, info = acc.step(rng.uniform(-1, 1, (4, 3)).astype(np.float32))
        change = info["equity"] - before
        explained = info["asset_pnl"].sum(1) - info["fee"] - info["slippage"] - info["funding"]
        np.testing.assert_allclose(change, explained, rtol=0, atol=1e-12)
        if done.any():
            break


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    mode=st.sampled_from(["long_only", "long_short"]),
    fee_bps=st.floats(0, 100),
    n_steps=st.integers(1, 60),
)
def test_conservation_holds_for_any_market_and_policy(seed, mode, fee_bps, n_steps):
    markets = [_market(seed + k, n=120, drop=(40 + 13 * k,)) for k in range(3)]
    uni = Universe.align(markets, ["a", "b", "c"])
    acc = PortfolioAccounts(uni, 2, mode=mode, fee_bps=fee_bps, episode_length=None,
                            max_drawdown=None)  # fmt: skip
    for a in range(2):
        acc.reset_account(a, int(acc.starts[0]))
    rng = np.random.default_rng(seed)
    dim = 4 if mode == "long_only" else 3
    for _ in range(n_steps):
        before = acc.scal[:, 4].copy()
        _, done, info = acc.step(rng.uniform(-1, 1, (2, dim)).astype(np.float32))
        explained = info["asset_pnl"].sum(1) - info["fee"] - info["slippage"] - info["funding"]
        np.testing.assert_allclose(info["equity"] - before, explained, rtol=1e-12, atol=1e-12)
        assert (info["asset_fee"] >= 0).all() and (info["asset_turnover"] >= 0).all()
        if done.any():
            break


def test_alignment_never_forward_fills_and_absent_assets_are_not_held():
    """b starts 50 bars later and misses bar 120: it is absent (NaN, not tradable) there, and a
    position in it is sold at the last close before the gap."""
    a = _market(1)
    b = _market(2, n=250, start="2024-01-03 02:00", drop=(70,))  # union row 120 missing
    uni = Universe.align([a, b], ["a", "b"])
    assert uni.n_bars == 300
    assert not uni.present[1, :50].any() and np.isnan(uni.close[1, :50]).all()
    assert not uni.present[1, 120] and np.isnan(uni.close[1, 120])
    assert not uni.tradable[1, 119] and not uni.tradable[1, 120]
    acc = PortfolioAccounts(uni, 1, mode="long_only", episode_length=None, max_drawdown=None)
    acc.reset_account(0, 100)
    for _ in range(19):  # bars 100..118: all in b
        acc.step(np.array([[0.0, 1.0, 0.0]], dtype=np.float32))
    held = acc.units[0, 1]
    assert held > 0 and acc.scal[0, 0] == 119
    _, _, info = acc.step(np.array([[0.0, 1.0, 0.0]], dtype=np.float32))  # b not tradable
    assert acc.units[0, 1] == 0.0 and info["weights"][0, 1] == 0.0
    sold = held * uni.close[1, 119]  # at bar 119's close, the last price b has before the gap
    assert info["asset_turnover"][0, 1] == sold
    assert info["asset_fee"][0, 1] == sold * 10 / 1e4 and info["asset_pnl"][0, 1] == 0.0


def test_weights_long_only_simplex_and_gross_cap():
    tradable = np.array([[1.0, 1.0, 0.0]])
    w = to_weights(np.array([[0.5, 0.5, 1.0, 1.0]]), tradable, "long_only", 1.0)
    np.testing.assert_allclose(w, [[0.25, 0.25, 0.0]])  # the untradable asset's score is cash
    w = to_weights(np.array([[1.0, -1.0, 1.0]]), np.ones((1, 3)), "long_short", 1.5)
    np.testing.assert_allclose(w, [[0.5, -0.5, 0.5]])
    assert to_weights(np.zeros((1, 4)), np.ones((1, 3)), "long_only", 1.0).sum() == 0.0
    with pytest.raises(ValueError, match="expected \\(1, 3\\)"):
        to_weights(np.zeros((1, 4)), np.ones((1, 3)), "long_short", 1.0)


def test_gymnasium_checker_and_real_universe():
    env = make_portfolio_env(["btc1h", "eth1h"], split="val", mode="long_only")
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 * (32 * 15 + 2) + 1,)
    _, _, _, _, info = env.step(np.array([0.5, 0.5, 0.0], dtype=np.float32))
    assert info["weights"].tolist() == [0.5, 0.5] and info["fee"] > 0


def test_unsupported_options_are_refused():
    uni = Universe.align([_market(1)], ["a"])
    with pytest.raises(ValueError, match="decision_interval=4 is not supported"):
        PortfolioEnv(uni, decision_interval=4)
    with pytest.raises(ValueError, match="mode='short_only' is not valid"):
        PortfolioEnv(uni, mode="short_only")


def test_batched_equals_single_envs_seeded_seed_plus_i_and_trains_with_sb3():
    uni = Universe.align([_market(s, n=400) for s in (1, 2)], ["a", "b"])
    opts = {"mode": "long_short", "episode_length": 50}
    batch = BatchedPortfolioEnv(uni, 3, seed=5, **opts)
    singles = [PortfolioEnv(uni, **opts) for _ in range(3)]
    obs_b = batch.reset()
    for i, env in enumerate(singles):
        obs_s, _ = env.reset(seed=5 + i)
        np.testing.assert_array_equal(obs_b[i], obs_s)
    rng = np.random.default_rng(0)
    for _ in range(120):  # crosses episode ends: auto-reset draws the same starts
        actions = rng.uniform(-1, 1, (3, 2)).astype(np.float32)
        obs_b, rew_b, done_b, infos = batch.step(actions)
        for i, env in enumerate(singles):
            obs_s, rew_s, term, trunc, _ = env.step(actions[i])
            assert rew_b[i] == np.float32(rew_s) and done_b[i] == (term or trunc)
            if term or trunc:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], obs_s)
                obs_s, _ = env.reset()
            np.testing.assert_array_equal(obs_b[i], obs_s)

    class SB3Portfolio(BatchedPortfolioEnv, VecEnv):
        pass

    venv = SB3Portfolio(uni, 4, seed=0, **opts)
    model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    action, _ = model.predict(venv.reset(), deterministic=True)
    assert action.shape == (4, 2)
