"""MarketData masks, episode boundaries (gaps, split ends), termination vs truncation,
seeding, and the no-look-ahead guarantee of TradingEnv's observation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs import MarketData, TradingEnv


def gapped(make_candles, n: int = 300, drop=(100, 101, 200)) -> pd.DataFrame:
    """Synthetic candles with the given rows removed (each removal is a gap)."""
    c = make_candles(n, seed=7)
    return c.drop(c.index[list(drop)])


def features_for(candles: pd.DataFrame, n_features: int = 3, warmup: int = 5) -> np.ndarray:
    f = np.random.default_rng(0).standard_normal((len(candles), n_features))
    f[:warmup] = np.nan
    return f


def test_market_masks_segments_and_feature_zeroing(make_candles):
    c = gapped(make_candles)  # segments: rows [0,100), [100,198) and [198,297)
    f = features_for(c)
    f[150, 1] = np.nan  # an invalid row mid-segment
    m = MarketData.build(c, f, None, window=4)
    assert m.features.dtype == np.float32 and m.features.shape == (297, 3)
    assert not m.feature_ok[150] and (m.features[150] == 0).all()
    assert m.segment[[0, 99, 100, 197, 198]].tolist() == [0, 0, 1, 1, 2]
    ok = m.obs_ok
    assert not ok[:8].any() and ok[8]  # warm-up rows 0..4 invalid, window 4 -> first ok = 8
    assert ok[99] and not ok[100:103].any() and ok[103]  # window must lie inside segment 1
    assert not ok[150:154].any() and ok[154]  # invalid row 150 spoils windows ending 150..153
    assert not m.can_step[99] and not m.can_step[197] and not m.can_step[296]
    assert m.can_step[98] and m.can_step[100]
    assert m.obs_dim == 4 * 3 + 4


def test_market_refuses_bad_inputs(make_candles):
    c = make_candles(50)
    with pytest.raises(ValueError, match="shape"):
        MarketData.build(c, np.zeros((49, 2)))
    bad = c.copy()
    bad.iloc[3, bad.columns.get_loc("close")] = -1.0
    with pytest.raises(ValueError, match="'close'.*clean"):
        MarketData.build(bad, np.zeros((50, 2)))
    frame = pd.DataFrame(np.zeros((50, 2)), index=c.index.shift(1))
    with pytest.raises(ValueError, match="index differs"):
        MarketData.build(c, frame)


def run_episode(env: TradingEnv, actions, **reset_kw):
    obs, info = env.reset(**reset_kw)
    out = [(obs, 0.0, False, False, info)]
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs, r, term, trunc, info))
        if term or trunc:
            break
    return out


def test_episode_never_crosses_a_gap_and_is_truncated_there(make_candles):
    m = MarketData.build(gapped(make_candles), features_for(gapped(make_candles)), None, window=4)
    env = TradingEnv(m, episode_length=None, max_drawdown=None)
    traj = run_episode(env, [2] * 500, options={"start": 90})
    bars = [s[4]["bar"] for s in traj]
    assert bars == list(range(90, 100))  # last decision bar 98; last mark at bar 99
    assert traj[-1][3] and not traj[-1][2]  # truncated, not terminated
    assert all(m.segment[b] == 0 for b in bars)
    # sequential full pass: one episode per run of decision bars, deterministic
    starts = env.episode_starts()
    assert starts.tolist() == [8, 103, 201]
    seen = []
    for _ in starts:
        traj = run_episode(env, [1] * 500, options={"sequential": True})
        seen.append((traj[0][4]["bar"], traj[-1][4]["bar"]))
        assert traj[-1][3]
    assert seen == [(8, 99), (103, 197), (201, 296)]


def test_truncation_at_episode_length_and_split_end(make_candles):
    c = make_candles(300, seed=1)
    m = MarketData.build(c, features_for(c), None, window=4)
    env = TradingEnv(m, split=(0, 150), episode_length=10, max_drawdown=None)
    traj = run_episode(env, [2] * 50, options={"start": 20})
    assert len(traj) == 11 and traj[-1][3] and not traj[-1][2] and traj[-1][4]["bar"] == 30
    # the split [0, 150) ends: the last position is held over bar 149, its mark ends the episode
    traj = run_episode(env, [0] * 50, options={"start": 145})
    assert [s[4]["bar"] for s in traj] == [145, 146, 147, 148, 149] and traj[-1][3]
    with pytest.raises(ValueError, match="not a valid decision bar"):
        env.reset(options={"start": 149})
    # random starts stay inside the split's decision bars
    for seed in range(20):
        _, info = env.reset(seed=seed)
        assert 8 <= info["bar"] <= 148


def test_termination_on_drawdown_and_ruin_with_penalty():
    idx = pd.date_range("2022-01-01", periods=12, freq="1h", tz="UTC")
    close = np.array([100, 100, 90, 80, 60, 40, 30, 30, 30, 30, 30, 30], dtype=float)
    candles = pd.DataFrame({"open": close, "high": close, "low": close, "close": close}, index=idx)
    m = MarketData.build(candles, np.zeros((12, 1)), None, window=1)
    kw = dict(fee_bps=0, slippage_bps=0, funding=False, reward="log_return", terminal_penalty=2.0)
    env = TradingEnv(m, max_drawdown=0.35, **kw)
    traj = run_episode(env, [2] * 20, options={"start": 0})
    # long at open[1]=100: E = 1, 0.9, 0.8, 0.6 -> drawdown 0.4 > 0.35 at bar 4
    assert [s[4]["bar"] for s in traj][-1] == 4
    obs, r, term, trunc, info = traj[-1]
    assert term and not trunc
    assert r == pytest.approx(np.log(0.6 / 0.8) - 2.0, abs=1e-12)
    env = TradingEnv(m, max_drawdown=None, ruin_fraction=0.35, **kw)
    traj = run_episode(env, [2] * 20, options={"start": 0})
    obs, r, term, trunc, info = traj[-1]
    assert term and not trunc and info["bar"] == 6 and info["equity"] == pytest.approx(0.3)
    # the reward's equity is floored at the ruin level (0.35): log(0.35 / 0.4) - penalty
    assert r == pytest.approx(np.log(0.35 / 0.4) - 2.0, abs=1e-12)


def test_same_seed_same_rollout(make_candles):
    c = make_candles(500, seed=2)
    m = MarketData.build(c, features_for(c), None, window=6)

    def rollout(seed: int):
        env = TradingEnv(m, episode_length=50, slippage_model="vol")
        env.reset(seed=seed)
        rng = np.random.default_rng(seed)
        rows = []
        for _ in range(200):
            obs, r, term, trunc, info = env.step(int(rng.integers(3)))
            rows.append((obs.tobytes(), r, term, trunc, info["equity"], info["bar"]))
            if term or trunc:
                env.reset()
        return rows

    assert rollout(3) == rollout(3)
    assert rollout(3) != rollout(4)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_no_look_ahead_future_bars_do_not_change_the_observation(make_candles, fill):
    """Two markets equal up to bar t and different after it give identical observations at t."""
    c = make_candles(200, seed=4)
    f = features_for(c)
    t = 120
    c2, f2 = c.copy(), f.copy()
    c2.iloc[t + 1 :, :4] *= 1.5  # every price after t
    c2.iloc[t + 1 :, c2.columns.get_loc("high")] *= 1.1
    f2[t + 1 :] = -f2[t + 1 :] + 3.0  # every feature after t
    m1 = MarketData.build(c, f, None, window=8)
    m2 = MarketData.build(c2, f2, None, window=8)
    for model in ("fixed", "vol"):
        obs = []
        for m in (m1, m2):
            env = TradingEnv(m, fill=fill, slippage_model=model)
            env.reset(options={"start": t - 6})
            o = None
            for a in (2, 2, 0, 0, 1, 0):  # the decisions before bar t, ending at t
                o, *_ = env.step(a)
            assert env.t == t
            obs.append(o)
        np.testing.assert_array_equal(obs[0], obs[1])
        # and the reset observation at t itself
        e1, e2 = TradingEnv(m1), TradingEnv(m2)
        np.testing.assert_array_equal(
            e1.reset(options={"start": t})[0], e2.reset(options={"start": t})[0]
        )
    # sanity: the observation at t+1 does differ (the test can fail)
    e1, e2 = TradingEnv(m1), TradingEnv(m2)
    assert not np.array_equal(
        e1.reset(options={"start": t + 1})[0], e2.reset(options={"start": t + 1})[0]
    )


def test_observation_layout_oldest_first(make_candles):
    c = make_candles(60, seed=0)
    f = np.arange(60 * 2, dtype=np.float64).reshape(60, 2)
    m = MarketData.build(c, f, None, window=3)
    env = TradingEnv(m)
    obs, _ = env.reset(options={"start": 10})
    np.testing.assert_array_equal(obs[:6], f[8:11].reshape(-1))  # bars 8, 9, 10
    np.testing.assert_array_equal(obs[6:], 0.0)
    obs2, *_ = env.step(1)
    np.testing.assert_array_equal(obs2[:6], f[9:12].reshape(-1))
    assert not np.shares_memory(obs, obs2)
