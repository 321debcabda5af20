"""envs.synthetic: planted-signal markets, their oracles, and the evaluate hooks.

Generation is deterministic and cheap (seconds); the backtests step the real env on the
2024 test split, so they are marked slow.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from envs.synthetic import (
    MARKET_NAMES,
    csv_bytes,
    markets,
    oracle_band,
    oracle_positions,
    oracles,
    series,
)
from envs.synthetic import generators as gen
from envs.synthetic.files import SYNTH_SHA256

N_BARS = 61_368  # 2018-01-01 .. 2024-12-31 23:00, hourly: 2557 days * 24


@pytest.fixture(autouse=True)
def _synth_dir(tmp_path_factory, monkeypatch):
    """Generated files go to a per-session temp folder, not the user's cache."""
    folder = tmp_path_factory.getbasetemp() / "synth"
    monkeypatch.setenv("RLTRADE_SYNTH_DIR", str(folder))


@pytest.mark.parametrize("name", MARKET_NAMES)
def test_generator_is_bit_stable(name):
    again = gen.canonical_csv(markets.SPECS[name].generate(markets.SPECS[name].params).candles)
    assert again == csv_bytes(name)
    assert gen.sha256_of(again) == SYNTH_SHA256[name]


@pytest.mark.parametrize("name", MARKET_NAMES)
def test_candles_are_valid_hourly_ohlcv(name):
    c = series(name).candles
    assert len(c) == N_BARS
    assert c.index[0] == pd.Timestamp("2018-01-01", tz="UTC")
    assert c.index[-1] == pd.Timestamp("2024-12-31 23:00", tz="UTC")
    assert (np.diff(c.index.asi8) == 3_600 * 10**9).all()
    o, h, lo, cl, v = (c[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert (h > np.maximum(o, cl)).all() and (lo < np.minimum(o, cl)).all() and (lo > 0).all()
    assert (v > 0).all()
    np.testing.assert_array_equal(o[1:], cl[:-1])  # continuous market: open = previous close
    r = np.diff(np.log(cl))
    assert r.std() == pytest.approx(gen.SIGMA_BAR, rel=0.03)  # "the same volatility"


def test_regime_state_is_a_markov_chain_with_the_set_switch_probability():
    p = markets.SPECS["synth-regime"].params
    s = series("synth-regime").hidden
    assert set(np.unique(s)) == {-1.0, 1.0}
    rate = np.mean(s[1:] != s[:-1])
    se = math.sqrt(p.switch_prob / len(s))
    assert abs(rate - p.switch_prob) < 4 * se


@pytest.mark.parametrize("name", MARKET_NAMES)
def test_presets_pass_the_strict_loader_and_the_cleaning_gate(name):
    from envs.data import load_candles, load_clean

    frame = load_candles(name)
    assert frame.attrs["sha256"] == SYNTH_SHA256[name]
    cleaned, report = load_clean(name)
    assert report.rows_before == report.rows_after == N_BARS
    assert report.valid_fraction == 1.0 and report.n_dropped == 0
    pd.testing.assert_frame_equal(
        cleaned[["open", "high", "low", "close", "volume"]],
        series(name).candles,
        check_freq=False,
    )


def test_an_edited_cache_file_is_refused(tmp_path, monkeypatch):
    from envs.data import DataIntegrityError, load_candles
    from envs.presets import get_preset

    monkeypatch.setenv("RLTRADE_SYNTH_DIR", str(tmp_path))
    path = get_preset("synth-rw").candles.path  # materialised here
    path.write_bytes(
        path.read_bytes().replace(b"2018-01-01T00:00:00Z,", b"2018-01-01T00:00:00Z,1", 1)
    )
    with pytest.raises(DataIntegrityError, match="sha256 mismatch"):
        load_candles("synth-rw")


def test_hamilton_filter_by_hand():
    drift, sigma, p = 0.01, 0.02, 0.1
    r = np.array([0.03, -0.01])
    gain = 2 * drift / sigma**2  # log-likelihood ratio per unit return = 50
    post0 = 1 / (1 + math.exp(-gain * 0.03))
    q0 = post0 * 0.9 + (1 - post0) * 0.1
    post1 = 1 / (1 + math.exp(-(math.log(q0 / (1 - q0)) + gain * -0.01)))
    q1 = post1 * 0.9 + (1 - post1) * 0.1
    np.testing.assert_allclose(oracles.hamilton_filter(r, drift, sigma, p), [q0, q1], rtol=1e-12)


def _kalman_matrix_form(y, phi, sd_eta, sd_walk):
    """Textbook Kalman filter in matrix form, the reference for the scalar version."""
    x_var = sd_eta**2 / (1 - phi**2)
    m = np.array([y[0], 0.0])
    P = np.array([[x_var, -x_var], [-x_var, x_var]])
    F, Q, H = np.diag([1.0, phi]), np.diag([sd_walk**2, sd_eta**2]), np.ones((1, 2))
    out = [0.0]
    for obs in y[1:]:
        m, P = F @ m, F @ P @ F.T + Q
        K = P @ H.T / (H @ P @ H.T)
        m = m + (K * (obs - H @ m)).ravel()
        P = (np.eye(2) - K @ H) @ P
        out.append(m[1])
    return np.array(out)


def test_kalman_deviation_matches_the_matrix_form():
    p = markets.SPECS["synth-meanrev"].params
    y = np.log(series("synth-meanrev").candles["close"].to_numpy()[:300])
    np.testing.assert_allclose(
        oracles.kalman_deviation(y, p.phi, p.sd_eta, p.sigma_walk),
        _kalman_matrix_form(y, p.phi, p.sd_eta, p.sigma_walk),
        rtol=1e-9,
        atol=1e-12,
    )


def test_band_and_after_cost_returns_by_hand():
    pos = oracles.band_positions(np.array([0.5, 2.0, 1.5, 0.2, -3.0, -0.5]), 1.0, 0.3)
    np.testing.assert_array_equal(pos, [0, 1, 1, 0, -1, -1])
    r = np.diff(np.log([1.0, 1.0, 1.1, 0.9, 1.0]))  # prices 1, 1.1, 0.9, 1.0
    got = oracles.after_cost_returns(np.array([1.0, -1.0, 0.0, 0.0]), r, cost=0.001)
    np.testing.assert_allclose(got, [0.1 - 0.001, (1 - (0.9 / 1.1)) * 1 - 0.002, -0.001])


@pytest.mark.parametrize("name", MARKET_NAMES)
def test_filter_oracle_is_causal(name):
    """Position t from closes[:t+1] equals position t from the full series (and the future
    changed at will does not move it)."""
    close = series(name).candles["close"].to_numpy()[:3000]
    band = oracle_band(name, "filter")
    full = markets.filter_positions(name, close, band)
    for k in (1, 2, 50, 1234, 2999):
        np.testing.assert_array_equal(markets.filter_positions(name, close[:k], band), full[:k])
        future = close.copy()
        future[k:] *= np.exp(np.random.default_rng(k).normal(0, 0.05, len(close) - k))
        np.testing.assert_array_equal(markets.filter_positions(name, future, band)[:k], full[:k])


def test_oracle_positions_are_targets_in_minus_one_to_one():
    for name in MARKET_NAMES:
        for kind in ("hidden", "filter"):
            ts, pos = oracle_positions(name, kind)
            assert len(ts) == len(pos) == N_BARS and set(np.unique(pos)) <= {-1.0, 0.0, 1.0}
    np.testing.assert_array_equal(
        oracle_positions("synth-regime", "hidden")[1], series("synth-regime").hidden
    )


def test_evaluate_cli_lists_both_oracles_next_to_buy_and_hold():
    from evaluate.cli import _specs, build_parser

    names = [s.name for s in _specs(build_parser().parse_args(["--env", "synth-regime"]))]
    assert names[0] == "buy_and_hold" and {"oracle_hidden", "oracle_filter"} <= set(names)
    real = [s.name for s in _specs(build_parser().parse_args(["--env", "btc1h"]))]
    assert not any(n.startswith("oracle") for n in real)


def test_oracle_baseline_refuses_a_real_market():
    from backtest.baselines import baseline

    with pytest.raises(ValueError, match="synthetic preset"):
        baseline("oracle_hidden", env="btc1h")


def _test_run(name: str, policy: str):
    from backtest.runner import run_policy

    return run_policy(policy, name, "test")


def _test_sharpe(name: str, policy: str) -> float:
    from backtest.metrics import sharpe_ratio

    bt = _test_run(name, policy)
    return sharpe_ratio(bt.returns, bt.periods_per_year)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["synth-regime", "synth-meanrev"])
def test_hidden_oracle_beats_filter_oracle_which_clears_costs(name):
    hidden, filt = _test_sharpe(name, "oracle_hidden"), _test_sharpe(name, "oracle_filter")
    assert hidden > filt > 2.0


def test_fit_band_keeps_out_of_a_market_without_edge():
    r = np.random.default_rng(0).normal(0, 0.01, 20_000)
    signal = np.random.default_rng(1).normal(0, 1, 20_000)  # unrelated to r
    assert oracles.fit_band(signal, r, slice(0, None), ((0.5, 0.0), (1.0, 0.0))) == oracles.NO_TRADE
    np.testing.assert_array_equal(oracles.band_positions(signal, *oracles.NO_TRADE), 0.0)
    planted = np.concatenate([r[1:], [0.0]])  # signal = the next bar's return: an edge
    assert oracles.fit_band(planted, r, slice(0, None), ((0.0, 0.0),)) == (0.0, 0.0)


@pytest.mark.slow
def test_filter_finds_no_edge_on_the_random_walk():
    assert oracle_band("synth-rw", "filter") == oracles.NO_TRADE  # no band beats 3 s.e. on train
    for kind in ("filter", "hidden"):
        assert (_test_run("synth-rw", f"oracle_{kind}").positions == 0).all()


def test_make_env_on_a_synthetic_preset():
    import envs

    env = envs.make_env("synth-regime", split="test")
    obs, _ = env.reset(seed=0)
    assert obs.shape == env.observation_space.shape
    assert (env.market.funding == 0).all()  # no funding file: funding off
    lo = int(np.searchsorted(env.market.timestamps, pd.Timestamp("2024-01-01", tz="UTC").value))
    assert env.market.n_bars == N_BARS and env.tables.starts.min() >= lo
