"""The ``envs.data fetch`` arguments checked before any network call (one line each, exit 2).

``fetch_date(flag, text)``: an ISO date/time (UTC, or with an offset converted to UTC) between
2009-01-03 (no exchange had candles before) and now; ``check_symbol(symbol)``: ccxt's unified
``BASE/QUOTE`` (or ``BASE/QUOTE:SETTLE``) form, so ``SOLUSDT`` or ``../x`` is refused here
rather than after minutes of retries against the exchange.
"""

from __future__ import annotations

import re

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
