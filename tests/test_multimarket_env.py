"""Several markets laid end to end (envs.multimarket) and training randomisation (envs.randomise).

The concatenation must be invisible to the accounting: an episode on market m's bars in the
concatenation equals the same episode on market m alone, bit for bit; randomisation must be
seeded, charge its costs in equity and reward, and leave a default env unchanged.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from conftest import synthetic_candles

import envs.multimarket as mm
from envs import BatchedTradingEnv, MarketData, TradingEnv
from envs import kernel as K
from envs.features import feature_specs
from envs.marketspec import market_key
from envs.multimarket import check_distinct, check_scale_free, concat_markets, load_market_set
from envs.normalisers import MarketNormalisers, load_run_normaliser
from envs.presets import get_preset
from envs.randomise import Randomisation
from envs.registry import load_market, make_env, split_range


def _market(
    seed: int, n: int, gap: int | None = None, window: int = 4, daily: int = 0
) -> MarketData:
    c = synthetic_candles(n, seed=seed)
    if gap is not None:
        c = c.drop(c.index[[gap, gap + 1]])
    funding = pd.Series(
        np.random.default_rng(seed + 7).uniform(-0.002, 0.002, n // 8),
        index=pd.date_range("2020-01-01T08:00", periods=n // 8, freq="8h", tz="UTC"),
    )
    f = np.random.default_rng(seed + 1).standard_normal((len(c), 3))
    f[:3] = np.nan
    return MarketData.build(c, f, funding, window=window, daily_window=daily)


@pytest.fixture(scope="module")
def parts() -> list[tuple[MarketData, tuple[int, int]]]:
    a, b = _market(1, 300, gap=120), _market(2, 260)
    return [(a, (60, 250)), (b, (30, 200))]


@pytest.fixture(scope="module")
def daily_parts() -> list[tuple[MarketData, tuple[int, int]]]:
    """With 3 daily rows (48 bars of lookback beyond the 4-bar window)."""
    a, b = _market(1, 300, gap=200, daily=3), _market(2, 260, daily=3)
    return [(a, (70, 250)), (b, (100, 240))]


def _episode(env: TradingEnv, start: int, actions: list[int]) -> list[tuple]:
    env.reset(seed=0, options={"start": start})
    out = []
    for a in actions:
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.tobytes(), r, info["equity"], info["fee"], info["funding"], term, trunc))
        if term or trunc:
            break
    return out


@pytest.mark.parametrize("which", ["parts", "daily_parts"])
def test_concatenation_keeps_every_decision_bar_and_episode_bit_for_bit(which, request) -> None:
    parts = request.getfixturevalue(which)
    joined, firsts = concat_markets(parts)
    cat = TradingEnv(joined, episode_length=None, fee_bps=7.0, slippage_model="range")
    offset = 0
    mapped = []
    actions = list(np.random.default_rng(0).integers(0, 3, 400))
    for (m, (lo, hi)), first in zip(parts, firsts, strict=True):
        alone = TradingEnv(m, (lo, hi), episode_length=None, fee_bps=7.0, slippage_model="range")
        shift = offset - first
        mapped.append(alone.tables.starts + shift)
        for start in alone.tables.run_starts:  # every run of the split, to its end
            assert _episode(alone, int(start), actions) == _episode(
                cat, int(start + shift), actions
            )
        offset += hi - first
    # the concatenation's decision bars are exactly the markets' own, shifted
    np.testing.assert_array_equal(cat.tables.starts, np.concatenate(mapped))
    assert joined.n_bars == offset


def test_no_episode_crosses_from_one_market_into_the_next(parts) -> None:
    joined, firsts = concat_markets(parts)
    env = TradingEnv(joined, episode_length=None)
    boundary = parts[0][1][1] - firsts[0]  # first row of market 2
    last_of_first = int(env.tables.starts[env.tables.starts < boundary][-1])
    env.reset(options={"start": last_of_first})
    _, _, term, trunc, info = env.step(2)
    assert trunc and not term and info["bar"] == boundary - 1  # ends on market 1's last bar
    # market 2's first decision bar has a full window of its own warm-up rows
    first_b = int(env.tables.starts[env.tables.starts >= boundary][0])
    assert first_b == boundary + (parts[1][1][0] - firsts[1])


def test_market_of_different_columns_or_window_is_refused(parts) -> None:
    a = parts[0][0]
    c = synthetic_candles(200, seed=5)
    other = MarketData.build(c, np.zeros((200, 2)), None, window=4)
    with pytest.raises(ValueError, match="feature columns"):
        concat_markets([(a, (60, 250)), (other, (10, 150))])
    with pytest.raises(ValueError, match="twice"):
        check_distinct(["btc1h", "eth1h", "btc1h"])


def test_shipped_feature_sets_are_scale_free_and_a_price_level_set_is_refused(monkeypatch) -> None:
    check_scale_free("core17")
    check_scale_free("flagtrader60")
    spec = feature_specs("core17")[0]
    level = spec.__class__(**{**spec.__dict__, "name": "close_level", "units": "price"})
    monkeypatch.setattr(mm, "feature_specs", lambda _s: (level,))
    with pytest.raises(ValueError, match="close_level is in price units, not scale-free"):
        mm.check_scale_free("x")


# ------------------------------------------------------------------ randomisation
def test_default_randomisation_is_the_plain_env_bit_for_bit(parts) -> None:
    m = parts[0][0]
    acts = np.random.default_rng(3).integers(0, 3, (80, 4))
    a = BatchedTradingEnv(m, 4, seed=5, episode_length=20)
    b = BatchedTradingEnv(m, 4, seed=5, episode_length=20, randomise={"market_weights": "bars"})
    assert np.array_equal(a.reset(), b.reset())
    for act in acts:
        ra, rb = a.step(act), b.step(act)
        assert np.array_equal(ra[0], rb[0]) and np.array_equal(ra[1], rb[1])


def _run(env: BatchedTradingEnv, steps: int) -> tuple[np.ndarray, list[np.ndarray]]:
    obs = [env.reset()]
    rows = []
    acts = np.random.default_rng(9).integers(0, 3, (steps, env.num_envs))
    for act in acts:
        o, r, d, _ = env.step(act)
        obs.append(o)
        rows.append(np.column_stack([r, env.last_info["fee"], env.last_info["slippage"]]))
    return np.stack(obs), rows


RANDOM = {
    "episode_length_min": 5,
    "obs_noise_std": 0.3,
    "fee_mult": [0.5, 3.0],
    "slippage_mult": [0.0, 2.0],
}


def test_randomisation_is_seeded_and_reproducible(parts) -> None:
    m = parts[0][0]
    o1, r1 = _run(BatchedTradingEnv(m, 3, seed=11, episode_length=30, randomise=RANDOM), 60)
    o2, r2 = _run(BatchedTradingEnv(m, 3, seed=11, episode_length=30, randomise=RANDOM), 60)
    o3, _ = _run(BatchedTradingEnv(m, 3, seed=12, episode_length=30, randomise=RANDOM), 60)
    assert np.array_equal(o1, o2) and all(np.array_equal(x, y) for x, y in zip(r1, r2, strict=True))
    assert not np.array_equal(o1, o3)


def test_noise_touches_the_feature_window_only_and_stays_in_the_space(parts) -> None:
    m = parts[0][0]
    clean = BatchedTradingEnv(m, 4, seed=3, episode_length=30)
    noisy = BatchedTradingEnv(m, 4, seed=3, episode_length=30, randomise={"obs_noise_std": 0.5})
    oc, on = clean.reset(), noisy.reset()
    wf = clean.window * clean.n_features
    diff = on[:, :wf] - oc[:, :wf]
    assert np.array_equal(on[:, wf:], oc[:, wf:])  # account values untouched
    assert 0.35 < float(diff.std()) < 0.65  # N(0, 0.5^2) on 4 x 12 values
    assert noisy.observation_space.contains(on[0])


def test_episode_lengths_are_drawn_in_the_range(parts) -> None:
    m = parts[0][0]
    env = BatchedTradingEnv(
        m, 8, seed=0, episode_length=12, randomise={"episode_length_min": 4}, max_drawdown=None
    )
    env.reset()
    lengths = env._state[:, K.S_MAX_STEPS]
    assert set(lengths.tolist()) <= set(range(4, 13)) and len(set(lengths.tolist())) > 2
    with pytest.raises(ValueError, match="above episode_length=12"):
        BatchedTradingEnv(m, 2, episode_length=12, randomise={"episode_length_min": 13})
    with pytest.raises(ValueError, match="needs a finite episode_length"):
        BatchedTradingEnv(m, 2, episode_length=None, randomise={"episode_length_min": 3})


def test_drawn_costs_are_charged_in_equity_and_reward(parts) -> None:
    """A fee multiplier of exactly 3 charges 3x the fee; the equity and the log-return reward
    carry it (hand-computed from the fill)."""
    m = parts[0][0]
    opts = dict(episode_length=30, reward="log_return", slippage_bps=0.0, funding=False)
    base = BatchedTradingEnv(m, 1, seed=4, **opts)
    x3 = BatchedTradingEnv(m, 1, seed=4, randomise={"fee_mult": [3.0, 3.0]}, **opts)
    base.reset(), x3.reset()
    assert x3._state[0, K.S_FEE_MULT] == 3.0
    _, rb, _, _ = base.step(np.array([2]))
    _, rx, _, _ = x3.step(np.array([2]))
    t = int(base.last_info["bar"][0]) - 1  # the decision bar: filled at t+1's open
    fill, close = m.open[t + 1], m.close[t + 1]
    units = 1.0 / fill  # all equity (1.0) long at the fill
    fee = units * fill * 10.0 / 1e4 * 3.0
    equity = 1.0 - fee + units * (close - fill)
    assert x3.last_info["fee"][0] == pytest.approx(fee, rel=1e-12)
    assert x3.last_info["fee"][0] == pytest.approx(3 * base.last_info["fee"][0], rel=1e-12)
    assert x3.last_info["equity"][0] == pytest.approx(equity, rel=1e-12)
    assert float(rx[0]) == pytest.approx(np.log(equity), rel=1e-5)
    assert float(rx[0]) < float(rb[0])


def test_randomisation_survives_get_state_set_state(parts) -> None:
    m = parts[0][0]
    a = BatchedTradingEnv(m, 3, seed=1, episode_length=25, randomise=RANDOM)
    _run(a, 17)
    saved = a.get_state()
    b = BatchedTradingEnv(m, 3, seed=99, episode_length=25, randomise=RANDOM)
    b.reset()
    b.set_state(saved)
    acts = np.random.default_rng(5).integers(0, 3, (40, 3))
    for act in acts:
        oa, ra, _, _ = a.step(act)
        ob, rb, _, _ = b.step(act)
        assert np.array_equal(oa, ob) and np.array_equal(ra, rb)


def test_equal_market_weights_draw_a_market_first(parts) -> None:
    joined, firsts = concat_markets(parts)
    env = BatchedTradingEnv(joined, 400, seed=0, randomise={"market_weights": "equal"})
    boundary = parts[0][1][1] - firsts[0]
    starts = env.tables.starts
    env.start_groups = [starts[starts < boundary], starts[starts >= boundary]]
    env.reset()
    share = float((env._t >= boundary).mean())
    assert 0.4 < share < 0.6  # about half of the 400 episodes on each market


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"fee_mult": [2.0, 1.0]}, "randomise.fee_mult=[2.0, 1.0] is not valid"),
        ({"slippage_mult": "2"}, "randomise.slippage_mult='2' is not valid"),
        ({"obs_noise_std": -0.1}, "randomise.obs_noise_std=-0.1 is not valid"),
        ({"market_weights": "volume"}, "randomise.market_weights='volume' is not valid"),
        ({"noise": 0.1}, "unknown randomise option(s) ['noise']"),
        ({"episode_length_min": 0}, "randomise.episode_length_min=0 is not valid"),
    ],
)
def test_bad_randomisation_is_refused_in_one_line(bad, fragment) -> None:
    with pytest.raises(ValueError) as err:
        Randomisation.coerce(bad)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def _write(tmp_path, name: str, scale: float, seed: int, freq: str = "1h", n: int = 900) -> str:
    c = synthetic_candles(n, seed=seed, freq=freq)
    c[["open", "high", "low", "close"]] *= scale
    path = tmp_path / f"{name}.csv"
    c.rename_axis("timestamp").reset_index().to_csv(path, index=False)
    return str(path)


def test_load_market_set_normalises_each_market_on_its_own_train_split(tmp_path) -> None:
    keys = [
        market_key(_write(tmp_path, "cheap", 0.01, 1)),
        market_key(_write(tmp_path, "dear", 500.0, 2)),
    ]
    ms = load_market_set(keys, "core17", 8)
    assert ms.keys == tuple(keys) and len(ms.normalisers) == 2
    for key, norm in zip(keys, ms.normalisers, strict=True):
        _, own = load_market(key, "core17", 8)  # fitted on its own train split
        assert norm.to_dict() == own.to_dict()
    assert ms.normalisers[0].to_dict() != ms.normalisers[1].to_dict()
    env = BatchedTradingEnv(ms.market, 2, ms.rows, seed=0)
    assert len(env.tables.starts) > 0 and ms.offsets[-1] == ms.market.n_bars
    own_starts = []
    for key in keys:
        alone = load_market(key, "core17", 8)[0]
        own_starts.append(len(TradingEnv(alone, split_range(alone, key, "train")).tables.starts))
    assert [len(g) for g in ms.start_groups(env.tables.starts)] == own_starts


def test_markets_of_different_bar_sizes_are_refused_in_one_line(tmp_path) -> None:
    hourly = market_key(_write(tmp_path, "hourly", 1.0, 1))
    four = market_key(_write(tmp_path, "four", 1.0, 2, freq="4h"))
    with pytest.raises(
        ValueError, match="its bars are 4h, .* are 1h; train on markets of one bar size"
    ):
        load_market_set([hourly, four], "core17", 8)


def test_market_normalisers_pick_each_markets_own_and_round_trip(tmp_path) -> None:
    cheap, dear = _write(tmp_path, "cheap", 0.01, 1), _write(tmp_path, "dear", 500.0, 2)
    keys = [market_key(cheap), market_key(dear)]
    ms = load_market_set(keys, "core17", 8)
    mn = MarketNormalisers.from_dict(json.loads(json.dumps(ms.market_normalisers().to_dict())))
    # an env of either market built with the set's normalisers reads exactly what training read
    for key, norm in zip(keys, ms.normalisers, strict=True):
        env = make_env(key, split="val", feature_set="core17", window=8, normaliser=mn)
        assert env.normaliser.to_dict() == norm.to_dict()
    # the same data under another path is the same market (sha256); an unknown one gets the first
    copy = tmp_path / "copy_of_dear.csv"
    shutil.copy(dear, copy)
    assert mn.for_market(get_preset(market_key(str(copy)))) is mn.entries[1].normaliser
    third = market_key(_write(tmp_path, "third", 3.0, 3))
    assert mn.for_market(get_preset(third)) is mn.primary
    (tmp_path / "run").mkdir()
    mn.save(tmp_path / "run" / "normalisers.json")
    assert load_run_normaliser(tmp_path / "run").to_dict() == mn.to_dict()
    with pytest.raises(ValueError, match="expected \\{'markets'"):
        MarketNormalisers.from_dict({"markets": []})


def test_train_and_val_blocks_share_one_market_data(tmp_path) -> None:
    keys = [market_key(_write(tmp_path, "a", 1.0, 1)), market_key(_write(tmp_path, "b", 9.0, 2))]
    both = load_market_set(keys, "core17", 8, splits=("train", "val"))
    for split in ("train", "val"):
        alone = load_market_set(keys, "core17", 8, split=split)
        lo, hi = both.rows_of(split)
        env = TradingEnv(both.market, (lo, hi))
        ref = TradingEnv(alone.market, alone.rows)
        np.testing.assert_array_equal(env.tables.starts - lo, ref.tables.starts)
        assert np.array_equal(
            both.market.features[lo:hi], alone.market.features
        ) and np.array_equal(both.market.close[lo:hi], alone.market.close)
    assert both.rows_of("train")[1] == both.rows_of("val")[0]
    with pytest.raises(ValueError, match="holds train, val, not 'test'"):
        both.rows_of("test")


def test_noise_reaches_the_daily_rows_too(daily_parts) -> None:
    m = daily_parts[0][0]
    clean = BatchedTradingEnv(m, 4, seed=3, episode_length=30)
    noisy = BatchedTradingEnv(m, 4, seed=3, episode_length=30, randomise={"obs_noise_std": 0.5})
    oc, on = clean.reset(), noisy.reset()
    base = clean.tables.base_dim
    assert on.shape[1] > base and not np.array_equal(on[:, base:], oc[:, base:])
    assert np.array_equal(on[:, base - 4 : base], oc[:, base - 4 : base])  # account values
