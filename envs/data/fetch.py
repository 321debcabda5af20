"""Download candles (and funding) from an exchange with ccxt: paginated, polite, incremental.

    python -m envs.data fetch --exchange binance --symbol SOL/USDT --timeframe 1h \\
        --since 2020-08-01 --out data_user/solusdt_1h.csv.gz [--funding]

Needs network access and the ``fetch`` extra (``pip install -e ".[fetch]"``,
included in ``dev``); the tests replay recorded responses through a fake
exchange object instead.

* Paginated: ``fetch_ohlcv(symbol, timeframe, since, limit)`` pages from
  ``--since`` (or from the file's last bar) until the exchange returns nothing
  new or ``--until``.
* Rate-limit aware: ccxt's own throttle is on (``enableRateLimit``); a
  ``RateLimitExceeded`` / ``DDoSProtection`` / ``RequestTimeout`` /
  ``NetworkError`` is retried after an exponential back-off (1, 2, 4, ... s,
  at most ``MAX_RETRIES`` times per page), then the fetch stops with one line
  and nothing written.
* Only closed bars: a bar whose close (open + timeframe) is after the fetch
  time is not kept; the next run appends it.
* Resumable and incremental: with an existing ``--out`` file, the fetch
  starts ``OVERLAP_BARS`` bars before its last bar; those overlapping bars
  must equal the file's exactly (every OHLCV value), else the append is
  refused naming the first timestamp and column that differ (the exchange
  revised history, or the file is from another market). Only newer bars are
  appended. A gap in the exchange's history stays a gap (never filled).
* Provenance: ``<out>.provenance.json`` records exchange, symbol, timeframe,
  each fetch's range, time, ccxt version, rows appended and the file's sha256.
* Then the same quality report and cleaning gate as any file run on the result.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from envs import barsize
from envs.data.errors import DataValidationError
from envs.data.loading import file_sha256, load_candles, load_funding
from envs.data.reading import CANDLE_COLUMNS, iso
from envs.data.writing import write_candles

MAX_RETRIES = 5
OVERLAP_BARS = 3
PAGE_LIMIT = 1000
MAX_PAGES = 100_000  # a safety stop against an exchange that never stops answering


class FetchError(ValueError):
    """The exchange could not be read (after retries), or the data could not be appended."""


@dataclass
class FetchResult:
    rows_fetched: int
    rows_appended: int
    first: str | None
    last: str | None
    retries: int


def _ccxt() -> Any:
    try:
        import ccxt
    except ImportError:
        raise FetchError(
            "fetching needs ccxt: pip install -e '.[fetch]' (also in .[dev]); it also needs network"
        ) from None
    return ccxt


def make_exchange(name: str) -> Any:
    """A ccxt exchange with its rate limiter on; a one-line error for an unknown name."""
    ccxt = _ccxt()
    if name not in ccxt.exchanges:
        raise FetchError(
            f"--exchange {name!r}: not a ccxt exchange id (e.g. binance, bybit, okx, kraken; "
            "ccxt.exchanges lists them)"
        )
    return getattr(ccxt, name)({"enableRateLimit": True})


def _retrying(
    call: Callable[[], list], what: str, sleep: Callable[[float], None]
) -> tuple[list, int]:
    """``call()`` with exponential back-off on rate limits and network errors; (result, retries)."""
    ccxt = _ccxt()
    transient = (
        ccxt.RateLimitExceeded,
        ccxt.DDoSProtection,
        ccxt.RequestTimeout,
        ccxt.NetworkError,
    )
    for attempt in range(MAX_RETRIES + 1):
        try:
            return call(), attempt
        except transient as exc:
            if attempt == MAX_RETRIES:
                detail = " ".join(str(exc).split())[:200]
                raise FetchError(
                    f"{what}: still failing after {MAX_RETRIES} retries ({type(exc).__name__}: "
                    f"{detail}); nothing was written: wait and re-run (the fetch resumes)"
                ) from None
            sleep(2.0**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def fetch_pages(
    fetch: Callable[[int], list],
    since_ms: int,
    step_ms: int,
    until_ms: int,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[list[list], int]:
    """Rows ``[ts_ms, ...]`` from ``since_ms`` up to ``until_ms`` (exclusive), page by page.

    Each page continues after the last timestamp seen; rows repeated across
    pages are dropped; stops on an empty page or no progress.
    """
    rows: list[list] = []
    cursor, retries, last = since_ms, 0, None
    for _ in range(MAX_PAGES):
        page, tried = _retrying(functools.partial(fetch, cursor), what, sleep)
        retries += tried
        new = [r for r in page if (last is None or r[0] > last) and r[0] < until_ms]
        if not new:
            break
        rows += new
        last = new[-1][0]
        cursor = last + step_ms
        if cursor >= until_ms:
            break
    return rows, retries


def _frame(rows: list[list], what: str) -> pd.DataFrame:
    table = pd.DataFrame(rows, columns=["timestamp", *CANDLE_COLUMNS]) if rows else None
    if table is None:
        return pd.DataFrame(columns=list(CANDLE_COLUMNS), dtype=np.float64)
    index = pd.DatetimeIndex(pd.to_datetime(table.pop("timestamp"), unit="ms", utc=True))
    table.index = index.rename("timestamp").as_unit("ns")
    try:
        out = table.astype(np.float64)
    except (TypeError, ValueError):
        raise FetchError(f"{what}: the exchange returned non-numeric candles") from None
    return out.sort_index()


def check_overlap(old: pd.DataFrame, new: pd.DataFrame, source: str) -> None:
    """Refuse an append whose overlapping bars differ from the file's, naming the first."""
    common = old.index.intersection(new.index)
    if len(common) == 0 and len(old) and len(new) and new.index[0] <= old.index[-1]:
        raise FetchError(f"{source}: the fetched bars do not line up with the file's timestamps")
    a = old.loc[common, list(CANDLE_COLUMNS)].to_numpy()
    b = new.loc[common, list(CANDLE_COLUMNS)].to_numpy()
    diff = np.argwhere(a != b)
    if len(diff):
        i, j = diff[0]
        col = CANDLE_COLUMNS[j]
        raise FetchError(
            f"{source}: overlap mismatch at {iso(common[i])} column {col}: file {a[i, j]!r}, "
            f"exchange {b[i, j]!r} ({len(np.unique(diff[:, 0]))} differing bar(s)); the exchange "
            "revised its history or the file is another market: fetch into a new file"
        )


def fetch_candles(
    exchange: Any,
    symbol: str,
    timeframe: str,
    out: Path,
    *,
    since: pd.Timestamp,
    until: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Fetch closed bars into ``out`` (new file, or verified append); see the module doc."""
    bar = barsize.canonical(timeframe)
    step_ms = barsize.bar_ns(bar) // 1_000_000
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    closed_until = (now.value // 1_000_000) // step_ms * step_ms - step_ms + 1  # opens <= this
    until_ms = closed_until if until is None else min(until.value // 1_000_000, closed_until)
    old = load_candles(out) if out.exists() else None
    since_ms = since.value // 1_000_000
    if old is not None and len(old):
        since_ms = max(since_ms, old.index[-1].value // 1_000_000 - OVERLAP_BARS * step_ms)
    what = f"{exchange.id if hasattr(exchange, 'id') else 'exchange'} {symbol} {bar}"
    rows, retries = fetch_pages(
        lambda c: exchange.fetch_ohlcv(symbol, timeframe, since=c, limit=PAGE_LIMIT),
        since_ms,
        step_ms,
        until_ms,
        what,
        sleep,
    )
    new = _frame(rows, what)
    if len(new) > 1:
        barsize.check_grid(new.index.asi8, barsize.bar_ns(bar), what, first_line=0)
    appended = new
    if old is not None:
        check_overlap(old, new, str(out))
        appended = new.loc[new.index > old.index[-1]] if len(old) else new
        merged = pd.concat([old, appended])
    else:
        merged = new
    if len(merged) == 0:
        raise FetchError(f"{what}: the exchange returned no closed bars since {iso(since)}")
    if len(appended):
        write_candles(merged, out)
    return FetchResult(
        len(new),
        len(appended),
        iso(new.index[0]) if len(new) else None,
        iso(new.index[-1]) if len(new) else None,
        retries,
    )


def fetch_funding(
    exchange: Any,
    symbol: str,
    out: Path,
    *,
    since: pd.Timestamp,
    now: pd.Timestamp | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchResult:
    """Funding settlements (``fetch_funding_rate_history``) into ``out``, appended like candles."""
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    old = load_funding(out) if out.exists() else None
    since_ms = since.value // 1_000_000
    if old is not None and len(old):
        since_ms = max(since_ms, old.index[-1].value // 1_000_000 + 1)
    what = f"{getattr(exchange, 'id', 'exchange')} {symbol} funding"

    def page(cursor: int) -> list:
        got = exchange.fetch_funding_rate_history(symbol, since=cursor, limit=PAGE_LIMIT)
        return [[int(r["timestamp"]), float(r["fundingRate"])] for r in got]

    rows, retries = fetch_pages(page, since_ms, 1, now.value // 1_000_000 + 1, what, sleep)
    new = pd.Series(
        [r[1] for r in rows],
        index=pd.DatetimeIndex(pd.to_datetime([r[0] for r in rows], unit="ms", utc=True)).rename(
            "timestamp"
        ),
        name="funding_rate",
        dtype=np.float64,
    )
    merged = new if old is None else pd.concat([old, new])
    if len(new):
        write_candles(merged.to_frame(), out)
    first = iso(new.index[0]) if len(new) else None
    return FetchResult(len(new), len(new), first, iso(new.index[-1]) if len(new) else None, retries)


def write_provenance(out: Path, record: dict) -> Path:
    """Append this fetch to ``<out>.provenance.json`` (a list of fetches) with the file's sha256."""
    path = out.with_name(out.name + ".provenance.json")
    history = json.loads(path.read_text()) if path.exists() else []
    if not isinstance(history, list):
        raise DataValidationError(f"{path}: not a provenance list; move it aside")
    history.append({**record, "sha256": file_sha256(out)})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(history, indent=1))
    tmp.replace(path)
    return path


def provenance_record(
    exchange_id: str, symbol: str, timeframe: str, result: FetchResult, kind: str
) -> dict:
    try:
        import ccxt

        version = ccxt.__version__
    except ImportError:  # pragma: no cover - fetch needs ccxt anyway
        version = None
    return {
        "kind": kind,
        "exchange": exchange_id,
        "symbol": symbol,
        "timeframe": timeframe,
        "fetched_range": [result.first, result.last],
        "rows_fetched": result.rows_fetched,
        "rows_appended": result.rows_appended,
        "retries": result.retries,
        "fetched_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ccxt_version": version,
    }
