"""Run ``python -m MODULE ARGS`` with ccxt's exchanges replaced by an offline fake (no network).

Used by tests/test_readme_commands.py for the README commands that download candles
(``envs.data fetch``, ``agents.predict --exchange``): ``python tests/readme_fake_exchange.py
MODULE ARGS...`` (as ``python -m tests.readme_fake_exchange``, from the checkout) runs the module's real ``__main__`` with the argv as written; only the exchange
object that ``envs.data.fetch.make_exchange`` builds is the fake, as in tests/test_data_fetch.py.

The fake serves the shipped Binance candles of the same base asset when there is one (BTC, ETH;
any other symbol gets the ETH candles), shifted forward in time so that the last bar is the hour
before now: a fetch "since 2020-08-01" then finds years of hourly bars, including the latest
closed ones that ``agents.predict`` asks for. Prices are real, timestamps are not: the fake
stands in for the network, never for data a result is drawn from.
"""

from __future__ import annotations

import bisect
import runpy
import sys

import ccxt
import pandas as pd

from envs.data import load_candles

SOURCES = {"BTC": "btc1h", "ETH": "eth1h"}


class FakeExchange:
    """ccxt's ``fetch_ohlcv`` / ``fetch_funding_rate_history`` over shifted shipped candles."""

    def __init__(self, config: dict | None = None, exchange_id: str = "binance") -> None:
        self.id = exchange_id
        self._rows: dict[str, list[list[float]]] = {}

    def _candles(self, symbol: str) -> list[list[float]]:
        preset = SOURCES.get(symbol.split("/")[0].upper(), "eth1h")
        if preset not in self._rows:
            frame = load_candles(preset)
            now = pd.Timestamp.now(tz="UTC").floor("1h")
            index = frame.index + (now - pd.Timedelta(hours=1) - frame.index[-1])
            ms = index.as_unit("ms").asi8
            values = frame[["open", "high", "low", "close", "volume"]].to_numpy()
            self._rows[preset] = [[int(t), *map(float, v)] for t, v in zip(ms, values, strict=True)]
        return self._rows[preset]

    def fetch_ohlcv(self, symbol, timeframe="1h", since=None, limit=None):  # noqa: D102
        if timeframe != "1h":
            raise ccxt.BadRequest(f"the fake exchange serves 1h candles, not {timeframe}")
        rows = self._candles(symbol)
        start = 0 if since is None else bisect.bisect_left(rows, since, key=lambda r: r[0])
        return rows[start : start + (limit or 1000)]

    def fetch_funding_rate_history(self, symbol, since=None, limit=None):  # noqa: D102
        return []


def _factory(exchange_id: str):
    return lambda config=None: FakeExchange(config, exchange_id)


if __name__ == "__main__":
    for name in ("binance", "bybit", "okx", "kraken"):
        setattr(ccxt, name, _factory(name))
    module, *argv = sys.argv[1:]
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
