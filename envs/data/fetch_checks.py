"""The ``envs.data fetch`` arguments checked before any network call (one line each, exit 2).

``fetch_date(flag, text)``: an ISO date/time (UTC, or with an offset converted to UTC) between
2009-01-03 (no exchange had candles before) and now; ``check_symbol(symbol)``: ccxt's unified
``BASE/QUOTE`` (or ``BASE/QUOTE:SETTLE``) form, so ``SOLUSDT`` or ``../x`` is refused here
rather than after minutes of retries against the exchange. ``fetch_symbols(text)``: one symbol,
or a comma list (a universe); ``member_files(out, symbols, bar)``: where each member of a
universe goes in the ``--out`` folder (``SOL/USDT`` at 1h: ``sol_usdt_1h.csv.gz``), the folder a
portfolio command then takes as ``--env`` (``envs.portfolio.members``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from envs.data.errors import DataValidationError

EARLIEST = pd.Timestamp("2009-01-03", tz="UTC")  # the first bitcoin block: no candles before
SYMBOL_RE = re.compile(r"[A-Z0-9][A-Z0-9._-]*/[A-Z0-9][A-Z0-9._-]*(:[A-Z0-9][A-Z0-9._-]*)?")


def fetch_date(flag: str, text: str | None) -> pd.Timestamp | None:
    """``text`` as a UTC timestamp within [2009-01-03, now], or a one-line error naming ``flag``."""
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except (ValueError, OverflowError, TypeError):
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise DataValidationError(
            f"{flag} {text!r}: not a date; write an ISO date, e.g. {flag} 2020-08-01"
        )
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    now = pd.Timestamp.now(tz="UTC")
    if not EARLIEST <= ts <= now:
        raise DataValidationError(
            f"{flag} {text!r}: outside 2009-01-03 .. now ({now:%Y-%m-%d}); give a date in between"
        )
    return ts


def check_symbol(symbol: str) -> None:
    """ccxt's unified symbol form, upper case: BTC/USDT, or BTC/USDT:USDT for a perpetual."""
    if not SYMBOL_RE.fullmatch(symbol):
        raise DataValidationError(
            f"--symbol {symbol!r}: not a ccxt unified symbol; write BASE/QUOTE in upper case, "
            "e.g. --symbol SOL/USDT (or SOL/USDT:USDT for the perpetual)"
        )


def fetch_symbols(text: str) -> list[str]:
    """``--symbol``: one ccxt symbol, or several comma-separated (a universe), each once."""
    symbols = [s.strip() for s in text.split(",")]
    for symbol in symbols:
        check_symbol(symbol)
    if len(set(symbols)) != len(symbols):
        raise DataValidationError(f"--symbol {text!r}: give each symbol once")
    return symbols


def member_files(out: Path, symbols: list[str], bar: str) -> list[Path]:
    """The candle file of each symbol of a universe inside the folder ``out``."""
    if out.is_file() or (not out.exists() and "." in out.name):
        raise DataValidationError(
            f"--out {out}: several symbols are fetched into a folder, one candle file each; "
            "give a folder (e.g. --out data/universe)"
        )
    stems = [re.sub(r"[^a-z0-9]+", "_", s.lower()).strip("_") + f"_{bar}" for s in symbols]
    if len(set(stems)) != len(stems):
        raise DataValidationError(f"--symbol {','.join(symbols)}: two symbols share a file name")
    return [out / f"{stem}.csv.gz" for stem in stems]
