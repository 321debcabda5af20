"""The numba accounting kernel against the plain-Python reference of the spec.

``envs.accounting.reference_step`` is the ``TradingEnv`` docstring's formulas written out in
plain Python floats (one small function per cost, in the spec's order of operations),
independent of the kernel's array layout; ``reference_interval_step`` chains k of them for
``decision_interval=k``. For random markets, settings and action sequences the env must
reproduce it: every accounting number and observation exactly, rewards to 1e-12 (Python's
``math.log`` and the kernel's may be different C functions on some platforms).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs import BatchedTradingEnv, MarketData, TradingEnv
from envs import kernel as K
from envs.accounting import Account, reference_interval_step


def random_market(seed: int, n: int = 160) -> MarketData:
    from conftest import synthetic_candles

    rng = np.random.default_rng(seed)
    c = synthetic_candles(n, seed=seed)
    c = c.drop(c.index[[60, 61]])  # a gap: episodes must stop at it
    funding = pd.Series(
        rng.uniform(-0.002, 0.002, n // 8 + 1),
        index=pd.date_range("2020-01-01T01:00", periods=n // 8 + 1, freq="8h", tz="UTC"),
    )
    return MarketData.build(c, rng.standard_normal((len(c), 2)), funding, window=3)


OPTIONS = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["discrete", "continuous"]),
        "long_only": st.booleans(),
        "fill": st.sampled_from(["next_open", "close"]),
        "fee_bps": st.sampled_from([0.0, 10.0, 75.0, 5000.0]),  # 5000: ruins, equity < 0
        "slippage_bps": st.sampled_from([0.0, 2.0]),
        "slippage_model": st.sampled_from(["fixed", "range", "vol"]),
        "funding": st.booleans(),
        "reward": st.sampled_from(["drawdown", "log_return", "dsr"]),
        "dd_penalty": st.sampled_from([0.0, 0.5, 3.0]),
        "episode_length": st.sampled_from([None, 7, 50]),
        "max_drawdown": st.sampled_from([None, 0.05, 0.5]),
        "ruin_fraction": st.sampled_from([0.01, 0.97]),
        "reward_scale": st.sampled_from([1.0, 10.0]),
        "initial_equity": st.sampled_from([1.0, 250.0]),
    }
)


@settings(max_examples=40, deadline=None)
@given(opts=OPTIONS, seed=st.integers(0, 10_000))
def test_env_matches_the_python_reference_of_the_spec(opts, seed):
    check_against_reference(opts, seed)


@settings(max_examples=25, deadline=None)
@given(opts=OPTIONS, k=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_env_with_decision_interval_matches_the_reference(opts, k, seed):
    check_against_reference({**opts, "decision_interval": k}, seed)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("reward", ["drawdown", "dsr"])
def test_ruinous_costs_match_the_reference(seed, reward):
    """Fees above the equity drive it below zero at a flip: ruin, bounded reward terms."""
    opts = {**dict.fromkeys(("slippage_bps",), 0.0), "fee_bps": 10000.0, "reward": reward}
    opts |= dict(action="discrete", long_only=False, fill="next_open", slippage_model="fixed")
    opts |= dict(funding=False, dd_penalty=3.0, episode_length=None, max_drawdown=None)
    opts |= dict(ruin_fraction=0.01, reward_scale=1.0, initial_equity=1.0)
    check_against_reference(opts, seed)


def check_against_reference(opts: dict, seed: int) -> None:
    """60 random actions (with resets) on ``TradingEnv(**opts)`` against the reference."""
    m = random_market(seed % 7)
    env = TradingEnv(m, **opts)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    acct = Account(
        t=info["bar"],
        cash=opts["initial_equity"],
        eq=opts["initial_equity"],
        peak=opts["initial_equity"],
        entry=float(m.close[info["bar"]]),
    )
    for _ in range(60):
        if opts["action"] == "discrete":
            action = int(rng.integers(3))
            w = env.params.targets[action]
        else:
            action = rng.uniform(-1.3, 1.3, 1).astype(np.float32)
            w = min(max(float(action[0]), -1.0), 1.0)
            w = max(w, 0.0) if opts["long_only"] else w
        obs, reward, term, trunc, info = env.step(action)
        ref = reference_interval_step(acct, w, m, env.params, env.tables.step_ok)
        for k in (
            "equity",
            "position",
            "fee",
            "slippage",
            "funding",
            "turnover",
            "drawdown",
            "bar",
        ):
            assert info[k] == ref[k], k
        assert info["timestamp"] == m.timestamps[ref["bar"]]
        assert (term, trunc) == (ref["terminated"], ref["truncated"])
        assert reward == pytest.approx(ref["reward"], rel=1e-12, abs=1e-15)
        np.testing.assert_array_equal(obs, ref["obs"])
        if term or trunc:
            obs, info = env.reset()
            e0 = opts["initial_equity"]
            acct = Account(
                t=info["bar"], cash=e0, eq=e0, peak=e0, entry=float(m.close[info["bar"]])
            )
            np.testing.assert_array_equal(obs[-4:], 0.0)


def test_single_returns_fresh_obs_and_python_scalars():
    env = TradingEnv(random_market(1), fee_bps=10)
    o0, _ = env.reset(seed=0)
    o1, r, term, trunc, info = env.step(2)
    o2, *_ = env.step(0)
    assert not np.shares_memory(o1, o2) and o1.flags.c_contiguous and o1.dtype == np.float32
    assert type(r) is float and type(term) is bool and type(trunc) is bool
    assert all(type(info[k]) is float for k in ("equity", "fee", "drawdown"))
    assert type(info["bar"]) is int and type(info["timestamp"]) is int


def test_stepping_past_the_end_of_the_market_raises():
    m = random_market(2)
    env = TradingEnv(m, episode_length=None)
    env.reset(options={"start": int(env.tables.starts[-1])})
    *_, trunc, info = env.step(2)
    assert trunc and info["bar"] == m.n_bars - 1  # the split (whole series) ended
    with pytest.raises(IndexError, match="outside the market"):
        env.step(2)  # no bar after the last one: refused, never read out of bounds


def test_kernel_refuses_inconsistent_buffers():
    env = TradingEnv(random_market(3))
    env.reset(seed=0)
    short_obs = np.empty(env.observation_space.shape[0] - 1, dtype=np.float32)
    with pytest.raises(ValueError, match="layout"):
        K.step_accounts(
            env._state, env._consts, env._bars, env._feats, short_obs, np.empty(K.N_OUT)
        )


def test_batched_last_info_arrays_survive_the_next_step():
    m = random_market(4)
    venv = BatchedTradingEnv(m, 5, seed=0, episode_length=4)
    venv.reset()
    venv.step(np.full(5, 2))
    first = venv.last_info
    kept = {k: v.copy() for k, v in first.items()}
    for _ in range(6):  # with resets (episode_length=4)
        venv.step(np.zeros(5, dtype=np.int64))
    for k, v in kept.items():
        np.testing.assert_array_equal(first[k], v)
    assert first["bar"].dtype == np.int64 and first["equity"].dtype == np.float64
