"""Everyday candle layouts (issue 23 item 5): epoch s/ms `date`/`time` columns, Freqtrade
feather and JSON, CryptoDataDownload CSV (URL line, newest first), and refusals that name the
line and what it holds. Every fixture is written by the test, shaped like the real files."""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.data import DataValidationError, load_candles, read_candles_raw
from envs.data.reading import RowLocator
from envs.data.timestamps import parse_timestamps
from envs.marketspec import add_market_flags, market_from_args

IDX = pd.date_range("2024-03-01", periods=6, freq="1h", tz="UTC")
OHLCV = [
    (61500.0, 61890.5, 61420.1, 61780.2, 812.5),
    (61780.2, 62010.0, 61700.0, 61950.3, 640.1),
    (61950.3, 61990.9, 61510.0, 61600.4, 955.7),
    (61600.4, 61700.0, 61300.2, 61450.0, 701.0),
    (61450.0, 61800.0, 61440.0, 61790.9, 512.2),
    (61790.9, 61850.1, 61600.0, 61640.0, 433.3),
]


def _expected() -> pd.DataFrame:
    cols = ["open", "high", "low", "close", "volume"]
    return pd.DataFrame(OHLCV, columns=cols, index=IDX.rename("timestamp").as_unit("ns"))


def _rows(stamps: list[str]) -> list[str]:
    return [",".join([t, *map(repr, v)]) for t, v in zip(stamps, OHLCV, strict=True)]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _refused(path: Path) -> str:
    with pytest.raises(DataValidationError) as info:
        load_candles(path)
    return str(info.value)


@pytest.mark.parametrize(
    ("column", "unit"), [("date", 10**6), ("time", 10**6), ("date", 10**9), ("timestamp", 10**9)]
)
def test_epoch_ms_and_seconds_in_date_or_time_column(tmp_path, column, unit):
    stamps = [str(t.value // unit) for t in IDX]
    path = _write(tmp_path / "c.csv", [f"{column},open,high,low,close,volume", *_rows(stamps)])
    got = load_candles(path)
    pd.testing.assert_frame_equal(got, _expected(), check_freq=False)
    assert got.attrs["format"] == "CSV" and "transformations" not in got.attrs


def test_date_and_time_columns_together_are_refused_naming_the_header(tmp_path):
    lines = ["date,time,open,high,low,close,volume"]
    lines += [
        f"2024-03-01,{t:%H:%M},{','.join(map(repr, v))}" for t, v in zip(IDX, OHLCV, strict=True)
    ]
    msg = _refused(_write(tmp_path / "dt.csv", lines))
    assert msg == (
        f"{tmp_path / 'dt.csv'}: line 1 (the header) has both a 'date' and a 'time' column; the "
        "reader will not guess how they combine: merge them into one 'timestamp' column "
        "(ISO-8601 UTC or epoch seconds/milliseconds)"
    )


@settings(max_examples=60, deadline=None)
@given(
    start_s=st.integers(1_000_000_000, 4_000_000_000),
    steps_ms=st.lists(st.integers(1, 10**9), min_size=1, max_size=40),
    seconds=st.booleans(),
)
def test_any_epoch_column_parses_to_the_index_of_its_iso_form(start_s, steps_ms, seconds):
    """Invariant: epoch milliseconds (or whole seconds) give exactly the ISO text's instants."""
    ms = np.cumsum([start_s * 1000, *steps_ms])
    if seconds:
        ms = ms - ms % 1000
    ms = ms[ms < 9_999_999_999_999]  # 13 digits: up to 2286
    if seconds:
        ms = ms[ms < 9_999_999_999 * 1000]
    stamps = pd.to_datetime(ms, unit="ms", utc=True)
    iso = pd.Series(stamps.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    epoch = pd.Series([str(m // 1000) if seconds else str(m) for m in ms])
    loc = RowLocator("x.csv", first_line=2)
    want, _, _ = parse_timestamps(iso, loc, strict=False)  # no future check: lenient
    got, ok, _ = parse_timestamps(epoch, loc, strict=False)
    keep = want.notna()  # lenient: a time more than a day ahead is NaT in both forms
    assert ok.tolist() == keep.tolist()
    assert got[keep].equals(want[keep])


def _freqtrade_rows() -> list[list]:
    return [[int(t.value // 10**6), *v] for t, v in zip(IDX, OHLCV, strict=True)]


@pytest.mark.parametrize("gz", [False, True])
def test_freqtrade_json(tmp_path, gz):
    blob = json.dumps(_freqtrade_rows()).encode()
    path = tmp_path / ("BTC_USDT-1h.json" + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(blob) if gz else blob)
    got = load_candles(path)
    pd.testing.assert_frame_equal(got, _expected(), check_freq=False)
    assert got.attrs["format"] == "Freqtrade JSON"


def test_freqtrade_json_bad_row_names_the_row(tmp_path):
    rows = _freqtrade_rows()
    rows[3] = rows[3][:5]
    path = tmp_path / "BTC_USDT-1h.json"
    path.write_text(json.dumps(rows))
    assert _refused(path) == (
        f"{path}: row 3 is [1709262000000, 61600.4, 61700.0, 61300.2, 61450.0]; every row must "
        "be [epoch_ms (an integer), open, high, low, close, volume] (numbers)"
    )


def test_freqtrade_feather(tmp_path):
    frame = _expected().rename_axis("date").reset_index()
    path = tmp_path / "BTC_USDT-1h.feather"
    frame.to_feather(path)
    got = load_candles(path)
    pd.testing.assert_frame_equal(got, _expected(), check_freq=False)
    naive = frame.assign(date=frame["date"].dt.tz_localize(None))
    naive.to_feather(tmp_path / "naive.feather")
    assert "timestamp column is naive (no time zone)" in _refused(tmp_path / "naive.feather")


CDD_HEADER = "unix,date,symbol,open,high,low,close,Volume BTC,Volume USDT,tradecount"


def _cdd(tmp_path: Path, order: list[int], name: str = "Binance_BTCUSDT_1h.csv") -> Path:
    lines = ["https://www.CryptoDataDownload.com", CDD_HEADER]
    for i in order:
        t, (o, h, lo, c, v) = IDX[i], OHLCV[i]
        lines.append(
            f"{t.value // 10**6},{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{o},{h},{lo},{c},{v},"
            f"{round(v * c, 2)},{1000 + i}"
        )
    return _write(tmp_path / name, lines)


def test_cryptodatadownload_newest_first_is_read_oldest_first_and_says_so(tmp_path):
    path = _cdd(tmp_path, [5, 4, 3, 2, 1, 0])
    got = load_candles(path)
    pd.testing.assert_frame_equal(got, _expected(), check_freq=False)  # Volume BTC = volume
    assert got.attrs["format"] == "CryptoDataDownload CSV"
    assert got.attrs["transformations"] == [
        "line 1 ('https://www.CryptoDataDownload.com') skipped: a title above the header",
        "rows reversed: CryptoDataDownload CSV lists bars newest first; read 6 rows oldest first "
        "(2024-03-01T00:00:00Z .. 2024-03-01T05:00:00Z), no row changed, dropped or added",
    ]
    assert got.attrs["extra_columns"] == ["date", "symbol", "Volume USDT", "tradecount"]
    oldest_first = load_candles(_cdd(tmp_path, [0, 1, 2, 3, 4, 5], "asc.csv"))
    assert len(oldest_first.attrs["transformations"]) == 1  # the title line; nothing reversed
    pd.testing.assert_frame_equal(oldest_first, got)


def test_cryptodatadownload_row_out_of_place_is_named_by_its_file_line(tmp_path):
    path = _cdd(tmp_path, [5, 4, 2, 3, 1, 0])  # file lines 3..8; 2024-03-01T02 is on line 5
    msg = _refused(path)
    assert "rows are not sorted by timestamp" in msg
    assert "line 5 (2024-03-01T02:00:00Z)" in msg, msg


def test_a_lenient_report_of_a_newest_first_file_is_oldest_first(tmp_path):
    frame = read_candles_raw(_cdd(tmp_path, [5, 4, 3, 2, 1, 0]))
    assert frame.index.is_monotonic_increasing and len(frame) == 6


def test_url_line_above_a_wrong_header_names_both_lines(tmp_path):
    path = _write(
        tmp_path / "x.csv",
        ["https://www.CryptoDataDownload.com", "unix,date,symbol,o,h,l,c", "1,2,3,4,5,6,7"],
    )
    assert _refused(path) == (
        f"{path}: line 1 holds 'https://www.CryptoDataDownload.com' (skipped as a title), line 2 "
        "(the header) is 'unix,date,symbol,o,h,l,c': missing column(s) open, high, low, close, "
        "volume; columns found: 'unix', 'date', 'symbol', 'o', 'h', 'l', 'c'. The header must "
        "name timestamp (or date, time), open, high, low, close, volume (lower case); accepted: "
        "CSV with a header timestamp|date|time,open,high,low,close,volume; CryptoDataDownload "
        "CSV; Freqtrade .feather/.json; parquet (see data/README.md)."
    )


def test_a_data_line_where_the_header_should_be_is_named(tmp_path):
    path = _write(tmp_path / "noheader.csv", _rows([t.isoformat() for t in IDX]))
    msg = _refused(path)
    assert msg.startswith(f"{path}: line 1 (the header) is '2024-03-01T00:00:00+00:00,61500.0,")
    assert "missing column(s) timestamp, open, high, low, close, volume" in msg


def test_two_volume_columns_without_a_symbol_are_refused(tmp_path):
    lines = ["timestamp,open,high,low,close,Volume BTC,Volume USDT"]
    lines += [
        f"{t:%Y-%m-%dT%H:%M:%SZ},{','.join(map(repr, v))},1"
        for t, v in zip(IDX, OHLCV, strict=True)
    ]
    msg = _refused(_write(tmp_path / "v.csv", lines))
    assert msg.endswith(
        "line 1 has volume columns 'Volume BTC', 'Volume USDT' and the symbol None does not say "
        "which is the base currency; rename the base-currency volume column to volume"
    )


# --- bounds (issue 24 item 4) and boolean columns (item 5) -----------------------------------


def test_gzip_bomb_one_long_line_is_refused_fast_with_a_short_message(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"timestamp,open,high,low,close,volume\n" + b"9" * 50_000_000))
    msg = _refused(path)
    assert msg == (
        f"{path}: line 2 is longer than 4,096 bytes (starts b'99999999999999999999999999999999"
        "99999999'); a candle line is under 200 bytes: this is not a candle file, or a damaged "
        "one (missing line breaks?)"
    )


def test_decompressed_size_is_capped(tmp_path, monkeypatch):
    monkeypatch.setenv("RLTRADE_MAX_INPUT_MB", "1")
    rows = _rows([f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in IDX]) * 5000  # ~1.6 MB of text
    path = tmp_path / "big.csv.gz"
    path.write_bytes(
        gzip.compress(("timestamp,open,high,low,close,volume\n" + "\n".join(rows)).encode())
    )
    assert _refused(path) == (
        f"{path}: more than 1 MiB of text once decompressed (a compression bomb, or a bigger "
        "file than a candle file needs); split the file by date, or raise the cap with "
        "RLTRADE_MAX_INPUT_MB=<MiB> if it really is this big"
    )


def test_a_huge_cell_is_quoted_short(tmp_path):
    stamps = [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in IDX]
    lines = ["timestamp,open,high,low,close,volume", *_rows(stamps)]
    lines[3] = lines[3].replace("61950.3", "x" * 3000, 1)
    msg = _refused(_write(tmp_path / "cell.csv", lines))
    assert (
        "open='xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx... (3,002 characters)"
        in msg
    )
    assert len(msg) < 600


def test_every_data_error_is_bounded():
    err = DataValidationError("a" * 10_000 + " the fix")
    assert len(str(err)) < 2100 and str(err).endswith(" the fix")


def test_boolean_volume_column_is_refused(tmp_path):
    stamps = [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in IDX]
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [
        ",".join([t, *map(repr, v[:4]), "True" if i % 2 else "False"])
        for i, (t, v) in enumerate(zip(stamps, OHLCV, strict=True))
    ]
    path = _write(tmp_path / "b.csv", lines)
    assert _refused(path) == (
        f"{path}: column volume holds True/False words (e.g. 'False' on line 2), not numbers; "
        "write the volume as numbers (a flag in place of a quantity is refused, never read as 0/1)"
    )
    frame = _expected().assign(volume=[True, False] * 3)
    frame.to_parquet(tmp_path / "b.parquet")
    assert _refused(tmp_path / "b.parquet") == (
        f"{tmp_path / 'b.parquet'}: column volume holds a boolean (bool) column, not numbers; "
        "write the volume as numbers (a flag in place of a quantity is refused, never read as 0/1)"
    )


def test_training_clis_say_a_newest_first_file_was_reversed(tmp_path, capsys):
    path = _cdd(tmp_path, [5, 4, 3, 2, 1, 0])
    parser = argparse.ArgumentParser()
    parser.add_argument("--env")
    add_market_flags(parser)
    args = parser.parse_args(["--env", str(path)])
    market_from_args(args)
    err = capsys.readouterr().err
    assert (
        "Binance_BTCUSDT_1h: rows reversed: CryptoDataDownload CSV lists bars newest first" in err
    )


def test_cryptodatadownload_unix_mixing_seconds_and_ms_is_read_per_row_and_said(tmp_path):
    path = _cdd(tmp_path, [5, 4, 3, 2, 1, 0])
    lines = path.read_text().splitlines()
    for k in (6, 7):  # the two oldest rows (01:00, 00:00) in epoch seconds, as older CDD rows are
        unix, rest = lines[k].split(",", 1)
        lines[k] = f"{int(unix) // 1000},{rest}"
    path.write_text("\n".join(lines) + "\n")
    got = load_candles(path)
    pd.testing.assert_frame_equal(got, _expected(), check_freq=False)
    assert got.attrs["transformations"][1] == (
        "the time column mixes epoch seconds (2 rows) and milliseconds (4 rows), as "
        "CryptoDataDownload's files do; each row read by its digit count (10 = seconds, "
        "13 = milliseconds)"
    )


def test_parquet_decoded_size_is_capped_before_reading(tmp_path, monkeypatch):
    frame = pd.DataFrame({c: np.zeros(300_000) for c in ["open", "high", "low", "close", "volume"]})
    frame["timestamp"] = "2024-01-01T00:00:00Z"
    frame.to_parquet(tmp_path / "zeros.parquet")  # compresses to a few KB, decodes to ~20 MB
    monkeypatch.setenv("RLTRADE_MAX_INPUT_MB", "1")
    msg = _refused(tmp_path / "zeros.parquet")
    assert "MiB of data, more than the 1 MiB cap; split the file by date" in msg, msg


def test_freqtrade_json_boolean_volume_is_refused(tmp_path):
    rows = _freqtrade_rows()
    rows[2][5] = True
    path = tmp_path / "BTC_USDT-1h.json"
    path.write_text(json.dumps(rows))
    assert "row 2 is [1709258400000, 61950.3, 61990.9, 61510.0, 61600.4, True]" in _refused(path)


def test_byte_order_mark_and_spaces_in_the_header_are_read(tmp_path):
    stamps = [f"{t:%Y-%m-%dT%H:%M:%SZ}" for t in IDX]
    body = "\n".join(_rows(stamps)) + "\n"
    (tmp_path / "bom.csv").write_bytes(
        ("\ufefftimestamp,open,high,low,close,volume\n" + body).encode()
    )
    (tmp_path / "sp.csv").write_text("timestamp, open, high , low,close,volume \n" + body)
    for name in ("bom.csv", "sp.csv"):
        pd.testing.assert_frame_equal(load_candles(tmp_path / name), _expected(), check_freq=False)


def test_a_semicolon_file_is_told_its_separator(tmp_path):
    path = _write(tmp_path / "semi.csv", ["timestamp;open;high;low;close;volume", "1;2;3;4;5;6"])
    assert _refused(path).startswith(
        f"{path}: fields are separated by ';', not ','; line 1 (the header) is "
        "'timestamp;open;high;low;close;volume': missing column(s) timestamp, open"
    )
