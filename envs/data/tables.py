"""Read a candle/funding file of any accepted layout into the standard raw table.

``read_table(path, columns, strict=...)`` returns ``timestamp`` (not yet parsed)
+ ``columns`` (float64), a ``RowLocator`` that names rows by their line/row in
the *file*, and in ``attrs``: ``read_issues``, ``extra_columns`` (in the file,
not read), ``format`` (the layout's name) and ``newest_first`` (the layout's
order is newest first: ``envs.data.loading`` reverses it and reports that).
Layouts: ``envs.data.formats``; bounds (size, line length): ``envs.data.sniff``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from envs.data.errors import DataValidationError, quote
from envs.data.formats import (
    Layout,
    csv_layout,
    parquet_bytes,
    read_feather,
    read_freqtrade_json,
)
from envs.data.reading import RowLocator, check_columns, check_readable, coerce_numeric, file_kind
from envs.data.sniff import check_size, sniff_csv, sniff_parquet


def _read_csv(path: Path, layout: Layout, columns: tuple[str, ...]) -> pd.DataFrame:
    """pandas C parser with explicit dtypes (fast); on a non-numeric cell, re-read as text."""
    label = str(path)
    skip = layout.skiprows
    try:
        raw = [str(c) for c in pd.read_csv(path, skiprows=skip, nrows=0).columns]
        named = {name.strip().lstrip("\ufeff"): name for name in raw}  # ' open' -> open
        back = {std: col for col, std in layout.rename.items()}
        wanted = {layout.time_col: str, **{back.get(c, c): "float64" for c in columns}}
        dtypes = {named[k]: v for k, v in wanted.items() if k in named}
        try:
            table = _standard(pd.read_csv(path, dtype=dtypes, skiprows=skip), layout)
            # pandas reads a column of True/False words as 1.0/0.0: re-read such a column as
            # text so coerce_numeric can refuse it (only an all-0/1 column pays for this)
            if any(table[c].isin((0.0, 1.0)).all() for c in columns if c in table):
                table = _standard(pd.read_csv(path, dtype=str, skiprows=skip), layout)
        except pd.errors.ParserError:
            raise
        except ValueError:  # a cell that is not a number: coerce_numeric finds it and says where
            table = _standard(pd.read_csv(path, dtype=str, skiprows=skip), layout)
    except pd.errors.EmptyDataError:
        raise DataValidationError(
            f"{label}: the file is empty; expected the header timestamp,{','.join(columns)} and "
            "data rows"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataValidationError(
            f"{label}: malformed CSV ({quote(' '.join(str(exc).split()), 200)}); every line needs "
            "exactly the header's fields"
        ) from None
    return table


def _standard(table: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Header names stripped of spaces and a byte-order mark, then renamed to the standard."""
    table.columns = [str(c).strip().lstrip("\ufeff") for c in table.columns]
    return table.rename(columns=layout.rename)


def _unreadable_parquet(path: Path, exc: Exception) -> DataValidationError:
    return DataValidationError(
        f"{path}: unreadable parquet file ({quote(' '.join(str(exc).split()), 200)}); write it "
        "again with DataFrame.to_parquet, or give a CSV"
    )


def _read_other(path: Path, kind: str, needed: tuple[str, ...]) -> pd.DataFrame:
    if kind == "json":
        table = read_freqtrade_json(path)
    elif kind == "feather":
        table = read_feather(path)
    else:
        sniff_parquet(path)
        try:
            decoded = parquet_bytes(path)  # from the footer, before anything is decoded
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise _unreadable_parquet(path, exc) from None
        check_size(path, decoded)
        try:
            table = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise _unreadable_parquet(path, exc) from None
    if "timestamp" not in table.columns and table.index.name in ("timestamp", "date"):
        table = table.rename_axis("timestamp").reset_index()
    check_columns([str(c) for c in table.columns], needed, str(path))
    return table.reset_index(drop=True)


def read_table(
    path: Path, columns: tuple[str, ...], *, strict: bool
) -> tuple[pd.DataFrame, RowLocator]:
    """Read ``timestamp`` + ``columns`` from any accepted file (see the module doc)."""
    check_readable(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise DataValidationError(
            f"{path}: is a directory; give a .csv, .csv.gz, .parquet, .feather or .json file"
        )
    kind = file_kind(path)
    needed = ("timestamp", *columns)
    fmt, newest_first, notes = kind, False, []
    if kind == "csv":
        layout = csv_layout(path, sniff_csv(path), columns)
        loc = RowLocator(str(path), first_line=layout.header_line + 1)
        table = _read_csv(path, layout, columns)
        fmt, newest_first = layout.name, layout.newest_first
        if layout.title is not None:  # nothing is skipped unsaid
            notes.append(f"line 1 ({quote(layout.title)}) skipped: a title above the header")
    else:
        loc = RowLocator(str(path), first_line=None)
        table = _read_other(path, kind, needed)
        fmt = {"json": "Freqtrade JSON", "feather": "feather"}.get(kind, kind)
    extra = [str(c) for c in table.columns if c not in needed]
    table = table.loc[:, list(needed)].copy()
    table, bad_numbers = coerce_numeric(table, columns, loc, strict)
    table.attrs["read_issues"] = {"unparseable_values": bad_numbers}
    table.attrs["extra_columns"] = extra  # reported by the CLI and the quality report, not used
    table.attrs["format"] = fmt
    table.attrs["newest_first"] = newest_first
    table.attrs["notes"] = notes
    return table, loc
