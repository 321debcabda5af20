"""ccxt fetch, offline: a fake exchange replays recorded Binance candles (no network).

The recorded responses are real BTC/USDT 1h candles of 2024-01-01..02 from the shipped file,
in ccxt's ``[ms, open, high, low, close, volume]`` rows, served in pages like an exchange.
"""

from __future__ import annotations

import json

import ccxt
import numpy as np
import pandas as pd
import pytest

from envs.data import fetch, load_candles, load_funding
from envs.data.__main__ import main
from envs.data.loading import file_sha256
from envs.portfolio.members import members_of

RECORDED = load_candles("btc1h").loc["2024-01-01":"2024-01-02"]
GAP = pd.date_range("2024-01-01T10:00", periods=3, freq="1h", tz="UTC")  # the exchange's outage
T0 = pd.Timestamp("2024-01-01", tz="UTC")


class FakeExchange:
    """Serves RECORDED minus GAP, ``limit`` rows a page; raises each queued error once."""

    id = "binance"

    def __init__(self, errors=(), page=7, revise=None):
        frame = RECORDED.drop(GAP)
        if revise is not None:
            frame = frame.copy()
            frame.loc[revise, "close"] += 1.0
        ms = frame.index.as_unit("ms").asi8
        self.rows = [[int(t), *map(float, r)] for t, r in zip(ms, frame.to_numpy(), strict=True)]
        self.errors, self.page, self.calls = list(errors), page, []

    def fetch_ohlcv(self, symbol, timeframe, since=None, limit=None):
        self.calls.append(since)
        if self.errors:
            raise self.errors.pop(0)
        return [r for r in self.rows if r[0] >= since][: min(limit, self.page)]

    def fetch_funding_rate_history(self, symbol, since=None, limit=None):
        rates = [(T0 + pd.Timedelta(hours=8 * k), 1e-4 * (k + 1)) for k in range(6)]
        return [
            {"timestamp": int(t.value // 10**6), "fundingRate": r}
            for t, r in rates
            if t.value // 10**6 >= since
        ][:4]


def _fetch(ex, out, now, sleeps=None):
    return fetch.fetch_candles(
        ex,
        "BTC/USDT",
        "1h",
        out,
        since=T0,
        now=pd.Timestamp(now, tz="UTC"),
        sleep=(sleeps.append if sleeps is not None else lambda s: None),
    )


def test_paginates_backs_off_and_keeps_the_gap(tmp_path):
    out = tmp_path / "btc.csv.gz"
    sleeps: list[float] = []
    ex = FakeExchange(errors=[ccxt.RateLimitExceeded("429"), ccxt.DDoSProtection("418")])
    res = _fetch(ex, out, "2024-01-02T00:30", sleeps)  # the 00:00 bar is still open
    assert sleeps == [1.0, 2.0] and res.retries == 2
    got = load_candles(out)
    expected = RECORDED.loc[:"2024-01-01T23:00"].drop(GAP)
    pd.testing.assert_frame_equal(got, expected, check_freq=False, check_like=False)
    assert len(got) == 21 and not got.index.isin(GAP).any()  # the gap is not invented
    assert len(ex.calls) > 3  # paginated (7 rows a page)


def test_incremental_append_verifies_the_overlap(tmp_path):
    out = tmp_path / "btc.csv"
    _fetch(FakeExchange(), out, "2024-01-01T20:10")
    first = load_candles(out)
    assert first.index[-1] == pd.Timestamp("2024-01-01T19:00", tz="UTC")
    ex = FakeExchange()
    res = _fetch(ex, out, "2024-01-02T12:00")
    assert ex.calls[0] == (first.index[-1] - pd.Timedelta(hours=fetch.OVERLAP_BARS)).value // 10**6
    assert res.rows_appended == 16  # 20:00 .. 11:00 next day
    pd.testing.assert_frame_equal(
        load_candles(out), RECORDED.loc[:"2024-01-02T11:00"].drop(GAP), check_freq=False
    )


def test_overlap_mismatch_is_refused_and_nothing_written(tmp_path):
    out = tmp_path / "btc.csv"
    _fetch(FakeExchange(), out, "2024-01-01T20:10")
    before = file_sha256(out)
    revised = FakeExchange(revise=pd.Timestamp("2024-01-01T18:00", tz="UTC"))
    with pytest.raises(
        fetch.FetchError, match="overlap mismatch at 2024-01-01T18:00:00Z column close"
    ):
        _fetch(revised, out, "2024-01-02T12:00")
    assert file_sha256(out) == before


def test_persistent_rate_limit_gives_up_with_nothing_written(tmp_path):
    out = tmp_path / "btc.csv"
    ex = FakeExchange(errors=[ccxt.RateLimitExceeded("429")] * (fetch.MAX_RETRIES + 1))
    sleeps: list[float] = []
    with pytest.raises(fetch.FetchError, match="still failing after 5 retries"):
        _fetch(ex, out, "2024-01-02T00:30", sleeps)
    assert sleeps == [1.0, 2.0, 4.0, 8.0, 16.0] and not out.exists()


def test_cli_fetch_writes_provenance_funding_and_runs_the_gate(tmp_path, monkeypatch, capsys):
    ex = FakeExchange()
    monkeypatch.setattr(fetch, "make_exchange", lambda name: ex)
    out = tmp_path / "btc_1h.csv.gz"
    argv = ["fetch", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "1h"]
    argv += ["--since", "2024-01-01", "--until", "2024-01-02", "--out", str(out), "--funding"]
    assert main([*argv, "--min-valid-fraction", "0.5"]) == 0
    text = capsys.readouterr().out
    assert "appended 21 to" in text and "cleaning report" in text and "valid_fraction: 0.87" in text
    record = json.loads((tmp_path / "btc_1h.csv.gz.provenance.json").read_text())[0]
    assert record["fetched_range"] == ["2024-01-01T00:00:00Z", "2024-01-01T23:00:00Z"]
    assert record["sha256"] == file_sha256(out) and record["ccxt_version"] == ccxt.__version__
    assert (record["exchange"], record["symbol"], record["timeframe"]) == (
        "binance",
        "BTC/USDT",
        "1h",
    )
    funding = load_funding(tmp_path / "btc_1h_funding.csv.gz")
    np.testing.assert_allclose(funding.to_numpy(), 1e-4 * np.arange(1, 7))
    assert main([*argv]) == 2  # the default gate (0.9) refuses 21 of 24 hours: one line
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_fetches_a_universe_into_a_folder_a_portfolio_takes(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch, "make_exchange", lambda name: FakeExchange())
    uni = tmp_path / "uni"
    argv = ["fetch", "--exchange", "binance", "--symbol", "BTC/USDT,ETH/USDT:USDT"]
    argv += ["--timeframe", "1h", "--since", "2024-01-01", "--until", "2024-01-02"]
    argv += ["--out", str(uni), "--funding", "--min-valid-fraction", "0.5"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"universe of 2 in {uni}: python -m agents.ppo --env {uni}" in text
    btc, eth = uni / "btc_usdt_1h.csv.gz", uni / "eth_usdt_usdt_1h.csv.gz"
    assert len(load_candles(btc)) == 21 and len(load_candles(eth)) == 21
    assert members_of(str(uni)) == [  # funding paired, fetch's provenance records not members
        f"{btc}?funding={uni / 'btc_usdt_1h_funding.csv.gz'}",
        f"{eth}?funding={uni / 'eth_usdt_usdt_1h_funding.csv.gz'}",
    ]


@pytest.mark.parametrize(
    ("symbols", "out", "message"),
    [
        ("BTC/USDT,BTC/USDT", "uni", "give each symbol once"),
        ("BTC/USDT,ETH/USDT", "uni.csv.gz", "several symbols are fetched into a folder"),
        ("BTC/USDT,btc", "uni", "--symbol 'btc': not a ccxt unified symbol"),
    ],
)
def test_a_universe_fetch_refuses_before_any_network_call(tmp_path, capsys, symbols, out, message):
    argv = ["fetch", "--exchange", "binance", "--symbol", symbols, "--timeframe", "1h"]
    assert main([*argv, "--since", "2024-01-01", "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / out).exists()  # nothing written
