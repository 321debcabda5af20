"""The candle file layouts the reader understands, and how each maps onto the standard columns.

Standard columns: a time column + ``open, high, low, close, volume`` (candles)
or ``funding_rate`` (funding). Accepted layouts:

* **CSV** (``.csv``, ``.csv.gz``/``.bz2``/``.xz``/``.zip``) with a header on line 1.
  The time column is ``timestamp``, else ``date``, else ``time`` (ISO-8601 UTC,
  epoch seconds or epoch milliseconds: ``envs.data.timestamps``). A file with
  both ``date`` and ``time`` (a date and a clock time in two columns) is refused:
  merge them into ``timestamp``.
* **CryptoDataDownload CSV**: a URL line above the header
  (``https://www.CryptoDataDownload.com``), columns
  ``unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT[,tradecount]``,
  **newest row first**. Time = ``unix`` (epoch s or ms); volume = the
  ``Volume <BASE>`` column whose currency starts the ``symbol`` (BTC of
  BTCUSDT: base units, as ``volume`` everywhere else). Newest-first is that
  format's documented order, so the reader reverses the rows of such a file
  when its first time is later than its last, and *says so*
  (``frame.attrs["transformations"]``, printed by the CLIs). That is reading a
  format, not a repair: no row is changed, dropped or added, and the reversed
  rows must then be strictly increasing like any file (a row out of place is
  refused, named by its line in the file). No other layout is reordered.
* **Parquet** (``.parquet``): the standard columns, or the time as the index.
* **Freqtrade feather** (``.feather``): columns ``date`` (tz-aware UTC),
  ``open, high, low, close, volume`` (``freqtrade download-data``'s default).
* **Freqtrade JSON** (``.json``, ``.json.gz``): a list of
  ``[epoch_ms, open, high, low, close, volume]`` rows.

A line above the header that is not a URL/title (one field), or a header
without the columns, is refused naming the line and what it holds.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from envs.data.errors import DataValidationError, quote
from envs.data.sniff import check_size, max_input_bytes

TIME_ALIASES: tuple[str, ...] = ("timestamp", "unix", "date", "time")
_VOLUME_IN = re.compile(r"^volume[ _]+([A-Za-z0-9]+)$", re.IGNORECASE)
CDD = "CryptoDataDownload CSV"
ACCEPTED = (
    "accepted: CSV with a header timestamp|date|time,open,high,low,close,volume; "
    "CryptoDataDownload CSV; Freqtrade .feather/.json; parquet (see data/README.md)"
)


@dataclass(frozen=True)
class Layout:
    """Where a CSV's header is and which file column is which standard column."""

    name: str
    header_line: int  # 1-based line of the header
    time_col: str
    rename: dict[str, str] = field(default_factory=dict)  # file column -> standard column
    newest_first: bool = False  # the format's order is newest first (reversed on read)
    title: str | None = None  # the one-field line above the header that was skipped

    @property
    def skiprows(self) -> int:
        return self.header_line - 1


def _fields(line: str) -> list[str]:
    return [f.strip().strip('"') for f in line.split(",")]


def _time_column(fields: list[str], path: Path, line_no: int) -> str | None:
    if "timestamp" in fields:
        return "timestamp"
    if "unix" in fields:
        return "unix"
    if "date" in fields and "time" in fields:
        raise DataValidationError(
            f"{path}: line {line_no} (the header) has both a 'date' and a 'time' column; the "
            "reader will not guess how they combine: merge them into one 'timestamp' column "
            "(ISO-8601 UTC or epoch seconds/milliseconds)"
        )
    return next((c for c in ("date", "time") if c in fields), None)


def _volume_column(fields: list[str], symbol: str | None, path: Path, line_no: int) -> str | None:
    """'volume', else the one ``Volume <BASE>`` column whose currency starts the symbol."""
    if "volume" in fields:
        return "volume"
    named = {m.group(1).upper(): f for f in fields if (m := _VOLUME_IN.match(f))}
    if not named:
        return None
    base = re.sub(r"[^A-Z0-9]", "", (symbol or "").upper())
    if len(named) == 1 and not base:
        return next(iter(named.values()))  # one volume column and no symbol to contradict it
    match = [f for cur, f in named.items() if base.startswith(cur)]
    if len(match) != 1:
        raise DataValidationError(
            f"{path}: line {line_no} has volume columns {', '.join(map(quote, named.values()))} "
            f"and the symbol {quote(symbol)} does not say which is the base currency; rename the "
            "base-currency volume column to volume"
        )
    return match[0]


def csv_layout(path: Path, head: bytes, columns: tuple[str, ...]) -> Layout:
    """The layout of a CSV from its first bytes (see the module doc); refused naming the line."""
    lines = head.decode("utf-8-sig", errors="replace").splitlines()[:3]  # -sig: drop a BOM
    if not any(line.strip() for line in lines):
        raise DataValidationError(
            f"{path}: the file is empty; expected the header timestamp,{','.join(columns)} and "
            "data rows"
        )
    first = _fields(lines[0])
    header_at = 0
    if len(first) == 1 and len(lines) > 1 and len(_fields(lines[1])) > 1:
        header_at = 1  # a URL or title line above the header (CryptoDataDownload)
    fields = _fields(lines[header_at])
    line_no = header_at + 1
    dup = next((f for i, f in enumerate(fields) if f in fields[:i]), None)
    if dup is not None:
        raise DataValidationError(
            f"{path}: column {dup!r} appears twice in the header on line {line_no} "
            f"({quote(lines[header_at], 120)}); keep one (the loader will not guess which is right)"
        )
    data = _fields(lines[header_at + 1]) if len(lines) > header_at + 1 else []
    sym = data[fields.index("symbol")] if "symbol" in fields and len(data) == len(fields) else None
    rename: dict[str, str] = {}
    if "volume" in columns:
        vol = _volume_column(fields, sym, path, line_no)
        if vol is not None and vol != "volume":
            rename[vol] = "volume"
    time_col = _time_column(fields, path, line_no)
    found = [rename.get(f, f) for f in fields]
    missing = [c for c in columns if c not in found]
    if time_col is None or missing:
        _refuse_header(path, lines, header_at, ["timestamp"] * (time_col is None) + missing, fields)
    assert time_col is not None
    if time_col != "timestamp":
        rename[time_col] = "timestamp"
    cdd = time_col == "unix" and "symbol" in fields
    title = lines[0] if header_at == 1 else None
    return Layout(CDD if cdd else "CSV", line_no, time_col, rename, cdd, title)


def _refuse_header(
    path: Path, lines: list[str], at: int, missing: list[str], fields: list[str]
) -> None:
    above = f"line 1 holds {quote(lines[0])} (skipped as a title), " if at == 1 else ""
    sep = next((c for c in (";", "\t", "|") if c in lines[at] and "," not in lines[at]), None)
    if sep is not None:
        above += f"fields are separated by {sep!r}, not ','; "
    raise DataValidationError(
        f"{path}: {above}line {at + 1} (the header) is {quote(lines[at], 120)}: missing "
        f"column(s) {', '.join(missing)}; columns found: "
        f"{', '.join(map(repr, fields)) if any(fields) else '(none)'}. The header must name "
        f"timestamp (or date, time), open, high, low, close, volume (lower case); {ACCEPTED}."
    )


def read_freqtrade_json(path: Path) -> pd.DataFrame:
    """Freqtrade's JSON candles: a list of ``[epoch_ms, open, high, low, close, volume]``."""
    check_size(path)
    limit = max_input_bytes()
    opener = gzip.open if path.suffix.lower() == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            blob = fh.read(limit + 1)
    except (OSError, EOFError) as exc:
        raise DataValidationError(
            f"{path}: unreadable ({quote(' '.join(str(exc).split()), 200)}); download it again"
        ) from None
    check_size(path, len(blob))
    try:
        rows = json.loads(blob)
    except (ValueError, RecursionError) as exc:
        raise DataValidationError(
            f"{path}: not valid JSON ({quote(str(exc), 120)}); Freqtrade JSON candles are a "
            "list of [epoch_ms, open, high, low, close, volume] rows"
        ) from None
    if not isinstance(rows, list):
        raise DataValidationError(
            f"{path}: the JSON is a {type(rows).__name__}, not a list of "
            "[epoch_ms, open, high, low, close, volume] rows"
        )
    for i, row in enumerate(rows):
        if not (
            isinstance(row, list)
            and len(row) == 6
            and type(row[0]) is int  # not a bool (a bool is an int in Python)
            and all(type(x) in (int, float) for x in row[1:])
        ):
            raise DataValidationError(
                f"{path}: row {i} is {quote(row)}; every row must be [epoch_ms (an integer), "
                "open, high, low, close, volume] (numbers)"
            )
    table = pd.DataFrame(rows, columns=["timestamp", "open", "high", "low", "close", "volume"])
    table["timestamp"] = table["timestamp"].astype("string")
    return table


def read_feather(path: Path) -> pd.DataFrame:
    """A feather (Arrow IPC) table, read batch by batch within the size cap; ``date`` -> timestamp."""
    try:
        import pyarrow as pa  # optional (the parquet extra): imported only to read feather
    except ImportError:
        raise DataValidationError(
            f"{path}: reading feather needs pyarrow: pip install -e '.[parquet]', or give a CSV"
        ) from None
    check_size(path)
    limit, total, batches = max_input_bytes(), 0, []
    try:
        with pa.memory_map(str(path)) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                batch = reader.get_batch(i)
                total += batch.nbytes
                check_size(path, total if total > limit else None)
                batches.append(batch)
            table = pa.Table.from_batches(batches, schema=reader.schema).to_pandas()
    except DataValidationError:
        raise  # the size cap, already one line
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise DataValidationError(
            f"{path}: unreadable feather file ({quote(' '.join(str(exc).split()), 200)}); write it "
            "again (DataFrame.to_feather) or give a CSV"
        ) from None
    if "timestamp" not in table.columns and "date" in table.columns:
        table = table.rename(columns={"date": "timestamp"})
    return table


def parquet_bytes(path: Path) -> int:
    """The decoded size of a parquet file's data, from its footer (nothing decoded)."""
    try:
        import pyarrow.parquet as pq  # optional (the parquet extra), as pandas' read_parquet
    except ImportError:
        raise DataValidationError(
            f"{path}: reading parquet needs pyarrow: pip install -e '.[parquet]', or give a CSV"
        ) from None

    meta = pq.ParquetFile(path).metadata
    stored = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    # dictionary/RLE encoding keeps a column of one repeated value tiny even "uncompressed":
    # 8 bytes per cell is what it takes in memory once decoded
    return max(stored, meta.num_rows * meta.num_columns * 8)
