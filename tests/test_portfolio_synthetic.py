"""The planted cross-sectional market (envs.synthetic XS_UNIVERSE) and its oracle allocation."""

from __future__ import annotations

import numpy as np
import pytest

from backtest.allocation import run_allocation
from backtest.allocation_oracles import OracleAllocator, planted_members
from backtest.metrics import sharpe_ratio
from envs.portfolio import load_universe, split_rows
from envs.portfolio.env import PortfolioAccounts
from envs.synthetic import XS_MARKET_NAMES, csv_bytes, has_edge, markets, oracle_band, series
from envs.synthetic import generators as gen
from envs.synthetic.files import SYNTH_SHA256


@pytest.fixture(autouse=True)
def _synth_dir(tmp_path_factory, monkeypatch):
    """Generated files go to a per-session temp folder, not the user's cache."""
    monkeypatch.setenv("RLTRADE_SYNTH_DIR", str(tmp_path_factory.getbasetemp() / "synth"))


def test_members_are_bit_stable_and_only_the_regime_member_has_an_edge():
    for name in XS_MARKET_NAMES:
        assert gen.sha256_of(csv_bytes(name)) == SYNTH_SHA256[name]
    assert [has_edge(n) for n in XS_MARKET_NAMES] == [True, False, False]
    state = series("synth-xs-regime").hidden
    assert set(np.unique(state)) == {-1.0, 1.0}
    switches = np.mean(state[1:] != state[:-1])
    assert switches == pytest.approx(1 / 480, rel=0.15)
    r = np.diff(np.log(series("synth-xs-regime").candles["close"].to_numpy()))
    bull = state[1:] > 0  # the drift rides the state: +0.0009 in bull bars, -0.0009 in bear
    assert r[bull].mean() - r[~bull].mean() == pytest.approx(2 * 0.0009, abs=2e-4)
    for name in XS_MARKET_NAMES[1:]:  # the walks: a stated rule picked seeds with no drift
        c = series(name).candles["close"].to_numpy()
        ret = np.expm1(np.diff(np.log(c)))
        assert abs(sharpe_ratio(ret, 8760)) < 0.25


def test_filter_oracle_on_the_regime_member_is_causal():
    close = series("synth-xs-regime").candles["close"].to_numpy()[:2000]
    band = oracle_band("synth-xs-regime", "filter")
    full = markets.filter_positions("synth-xs-regime", close, band)
    assert np.abs(np.diff(full)).sum() > 0  # it trades
    for k in (1, 333, 1999):
        future = close.copy()
        future[k:] *= np.exp(np.random.default_rng(k).normal(0, 0.05, len(close) - k))
        np.testing.assert_array_equal(
            markets.filter_positions("synth-xs-regime", future, band)[:k], full[:k]
        )


@pytest.mark.slow
def test_oracle_allocation_holds_only_the_regime_member_and_beats_equal_weight():
    """Val 2023 through the portfolio env with its costs: the known allocation exploits it."""
    names = list(XS_MARKET_NAMES)
    uni = load_universe(names)
    assert planted_members(uni) == [0]
    rows = split_rows(uni, names[0], "val")
    acc = PortfolioAccounts(uni, 1, rows, episode_length=None)
    oracle = OracleAllocator(uni, "filter", "long_only")
    bt = run_allocation(acc, oracle.decide, "oracle_filter")
    assert np.all(bt.weights[:, 1:] == 0.0) and set(np.unique(bt.weights[:, 0])) == {0.0, 1.0}
    assert sharpe_ratio(bt.returns, 8760) > 5.0
    attribution = bt.attribution()
    assert attribution["synth-xs-regime"]["fee"] > 0 and attribution["synth-xs-rw1"]["pnl"] == 0
