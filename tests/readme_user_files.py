"""Write the candle files README.md assumes the user brings, in the formats it documents.

``python -m tests.readme_user_files`` (from the checkout, run by tests/test_readme_commands.py)
writes, from the shipped Binance BTC/USDT candles:

* ``user/Binance_BTCUSDT_1h.csv``: CryptoDataDownload's layout as downloaded (the URL line above
  the header, ``unix,date,symbol,...,Volume BTC,Volume USDT,tradecount``, newest row first);
* ``user/BTC_USDT-1h.feather``: Freqtrade's candles (``date`` in UTC plus OHLCV).

Prices are real; only the layouts are the user's. Nothing here is read by the project itself.
"""

from __future__ import annotations

from pathlib import Path

from envs.data import load_candles

CDD_HEADER = "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount"


def write_cryptodatadownload(path: Path) -> None:
    """The shipped BTC candles as a CryptoDataDownload CSV, newest first."""
    frame = load_candles("btc1h")
    lines = ["https://www.CryptoDataDownload.com", CDD_HEADER]
    rows = zip(
        frame.index, frame[["open", "high", "low", "close", "volume"]].to_numpy(), strict=True
    )
    for i, (t, (o, h, lo, c, v)) in enumerate(rows):
        lines.append(
            f"{t.value // 10**6},{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{o!r},{h!r},{lo!r},{c!r},{v!r},"
            f"{round(v * c, 2)},{1000 + i}"
        )
    path.write_text("\n".join([*lines[:2], *reversed(lines[2:])]) + "\n")


def write_freqtrade_feather(path: Path) -> None:
    """The shipped BTC candles as Freqtrade writes them (``date``, UTC, then OHLCV)."""
    frame = load_candles("btc1h")[["open", "high", "low", "close", "volume"]]
    frame.rename_axis("date").reset_index().to_feather(path)


if __name__ == "__main__":
    user = Path("user")
    user.mkdir(exist_ok=True)
    write_cryptodatadownload(user / "Binance_BTCUSDT_1h.csv")
    write_freqtrade_feather(user / "BTC_USDT-1h.feather")
