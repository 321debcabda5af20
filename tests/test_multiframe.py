"""Multi-timeframe observations (``daily_window``): the daily rows are the feature rows at
t, t-24, ... (causal), they never cross a gap, single and batched envs agree bit for bit,
``daily_window=0`` is the old observation, ``MarketData.observation`` (predict's) equals the
env's, and the extractor's two encoders read exactly their blocks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.training.config import resolve_config
from agents.training.config_checks import check_market_layout
from envs import BatchedTradingEnv, MarketData, TradingEnv
from envs.multiframe import daily_index
from lab.config import ConfigError
from policies import TransformerExtractor
from tests.conftest import synthetic_candles

W, D, F = 8, 3, 2  # bar window, daily rows, features


def build(daily_window: int = D, change_after: int | None = None, drop=(400,)) -> MarketData:
    c = synthetic_candles(700, seed=9)
    c = c.drop(c.index[list(drop)])  # a gap after row 399
    f = np.random.default_rng(5).standard_normal((len(c), F))
    f[:3] = np.nan  # warm-up
    if change_after is not None:  # a different future after bar change_after
        f[change_after + 1 :] += 7.0
    return MarketData.build(c, f, None, window=W, daily_window=daily_window)


def test_daily_rows_are_the_feature_rows_one_day_apart_oldest_first():
    m = build()
    assert m.daily_stride == 24 and m.obs_dim == (W + D) * F + 4
    env = TradingEnv(m, split=(0, m.n_bars))
    t = 300
    obs, _ = env.reset(options={"start": t})
    assert obs.shape == (m.obs_dim,)
    np.testing.assert_array_equal(obs[: W * F], m.features[t - W + 1 : t + 1].ravel())
    np.testing.assert_array_equal(obs[W * F : W * F + 4], 0.0)  # account: flat
    expected = m.features[[t - 48, t - 24, t]].ravel()
    np.testing.assert_array_equal(obs[W * F + 4 :], expected)
    obs2, *_ = env.step(2)  # long: the account slots keep their indices W*F + k
    assert obs2[W * F] == 1.0
    np.testing.assert_array_equal(obs2[W * F + 4 :], m.features[[t - 47, t - 23, t + 1]].ravel())


def test_obs_ok_needs_the_daily_rows_inside_the_segment():
    m, plain = build(), build(0)
    pos_ok = np.flatnonzero(m.obs_ok)
    # first segment: warm-up 3 rows, daily rows reach back 48 bars -> first ok bar is 3 + 48
    assert pos_ok[0] == 51 and plain.obs_ok[10] and not m.obs_ok[50]
    # after the gap (row 400 of the candles dropped: segment 2 starts at row 400) the same
    assert not m.obs_ok[400 : 400 + 48].any() and m.obs_ok[448]
    assert (m.obs_ok <= plain.obs_ok).all()


def test_default_is_the_bar_window_observation_bit_for_bit():
    m0, m = build(0), build()
    e0, e = TradingEnv(m0, split=(60, 650)), TradingEnv(m, split=(60, 650))
    o0, _ = e0.reset(options={"start": 100})
    o, _ = e.reset(options={"start": 100})
    base = W * F + 4
    np.testing.assert_array_equal(o[:base], o0)
    for a in (2, 0, 1, 2):
        o0, r0, *_ = e0.step(a)
        o, r, *_ = e.step(a)
        np.testing.assert_array_equal(o[:base], o0)
        assert r == r0
    assert e0.observation_space.shape == (base,)


def test_no_look_ahead_in_the_daily_rows():
    t = 350
    a, b = build(), build(change_after=t)
    ea, eb = TradingEnv(a, split=(0, a.n_bars)), TradingEnv(b, split=(0, b.n_bars))
    np.testing.assert_array_equal(
        ea.reset(options={"start": t})[0], eb.reset(options={"start": t})[0]
    )
    assert not np.array_equal(ea.step(1)[0], eb.step(1)[0])  # bar t+1 is the changed future


@pytest.mark.parametrize("opts", [{}, {"episode_length": 30, "decision_interval": 3}])
def test_batched_equals_single_with_daily_rows(opts):
    m = build()
    n, seed = 4, 11
    venv = BatchedTradingEnv(m, n, split=(0, m.n_bars), seed=seed, **opts)
    singles = [TradingEnv(m, split=(0, m.n_bars), **opts) for _ in range(n)]
    ob = venv.reset()
    np.testing.assert_array_equal(
        ob, np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(singles)])
    )
    rng = np.random.default_rng(0)
    done_seen = 0
    for _ in range(120):
        actions = rng.integers(0, 3, size=n)
        ob, _, dones, infos = venv.step(actions)
        for i, env in enumerate(singles):
            o, _, term, trunc, _ = env.step(int(actions[i]))
            if term or trunc:
                done_seen += 1
                np.testing.assert_array_equal(infos[i]["terminal_observation"], o)
                o, _ = env.reset()
            np.testing.assert_array_equal(ob[i], o)
    assert done_seen > 0 and ob.shape == (n, m.obs_dim)
    assert venv.observation_space.shape == (m.obs_dim,)


def test_market_observation_equals_the_env_observation():
    """What predict builds (``MarketData.observation``) is the env's row, daily rows included."""
    m = build()
    env = TradingEnv(m, split=(0, m.n_bars))
    env.reset(options={"start": 500})
    for a in (2, 2, 0):
        o, *_ = env.step(a)
    t = env.t
    np.testing.assert_array_equal(m.observation(t, o[W * F : W * F + 4]), o)
    plain = build(0)
    e0 = TradingEnv(plain, split=(0, plain.n_bars))
    o0, _ = e0.reset(options={"start": 200})
    np.testing.assert_array_equal(plain.observation(200, np.zeros(4)), o0)


def test_daily_index_clips_at_row_zero():
    np.testing.assert_array_equal(daily_index(np.array([5, 60]), 3, 24), [[0, 0, 5], [12, 36, 60]])


def test_daily_window_refused_when_not_an_int():
    c = synthetic_candles(50)
    with pytest.raises(ValueError, match=r"daily_window=-1 is not valid.*int >= 0"):
        MarketData.build(c, np.zeros((50, 2)), window=4, daily_window=-1)


def test_extractor_two_encoders_read_their_blocks():
    torch.manual_seed(0)
    obs_dim = (W + D) * F + 4
    space = gym.spaces.Box(-10, 10, (obs_dim,), np.float32)
    ext = TransformerExtractor(space, window=W, n_features=F, daily_window=D)
    assert ext.daily_backbone is not None
    assert ext.features_dim == ext.backbone.config.out_dim + ext.daily_backbone.config.out_dim
    x = torch.randn(5, obs_dim)
    y = ext(x)
    assert y.shape == (5, ext.features_dim)
    h = ext.backbone.config.out_dim
    x2 = x.clone()
    x2[:, W * F + 4 :] += 1.0  # only the daily rows change -> only the daily features change
    y2 = ext(x2)
    torch.testing.assert_close(y2[:, :h], y[:, :h])
    assert not torch.allclose(y2[:, h:], y[:, h:])
    plain = TransformerExtractor(
        gym.spaces.Box(-10, 10, (W * F + 4,), np.float32), window=W, n_features=F
    )
    assert plain.daily_backbone is None and plain.features_dim == plain.backbone.config.out_dim
    with pytest.raises(ValueError, match=r"\(8 \+ 3\)\*2 \+ 4 = 26"):
        TransformerExtractor(gym.spaces.Box(-1, 1, (12,), np.float32), W, F, daily_window=D)


def test_trainer_refuses_a_market_without_the_configured_layout():
    """A market built elsewhere (a walk-forward fold's) must not silently lack the daily rows or
    the context market the config asks for."""
    cfg = resolve_config("ppo", "btc1h", cli={"env": {"daily_window": D}})
    check_market_layout(cfg, build())
    with pytest.raises(ConfigError, match=f"env.daily_window {D} but the market was built with 0"):
        check_market_layout(cfg, build(0))
    ctx = resolve_config("ppo", "btc1h", cli={"env": {"feature_set": "daily", "context": "eth1h"}})
    with pytest.raises(ConfigError, match="env.context 'eth1h' but the market's ctx_"):
        check_market_layout(ctx, build(0))
