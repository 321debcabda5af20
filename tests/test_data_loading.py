"""Loader: output contract, one test per validation error, hashes, parquet, cache, funding."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import envs.preset_types as preset_types
import envs.presets as presets
from envs.data import (
    DataIntegrityError,
    DataValidationError,
    file_sha256,
    load_candles,
    load_funding,
    read_candles_raw,
)

HEADER = "timestamp,open,high,low,close,volume"
GOOD = [
    "2020-01-01T00:00:00Z,100,110,90,105,5",
    "2020-01-01T01:00:00Z,105,112,101,108,7",
    "2020-01-01T02:00:00Z,108,109,100,102,3",
    "2020-01-01T03:00:00Z,102,104,99,103,4",
]


def write_csv(
    tmp_path: Path, rows: list[str], header: str = HEADER, name: str = "candles.csv"
) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def with_row(i: int, row: str) -> list[str]:
    rows = list(GOOD)
    rows[i] = row
    return rows


def refused(path: Path) -> str:
    with pytest.raises(DataValidationError) as info:
        load_candles(path)
    msg = str(info.value)
    assert str(path) in msg  # every message names the file
    return msg


# --- output contract -------------------------------------------------------------------------


def test_good_csv_matches_contract(tmp_path):
    df = load_candles(write_csv(tmp_path, GOOD))
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dt == np.float64 for dt in df.dtypes)
    assert isinstance(df.index, pd.DatetimeIndex) and str(df.index.tz) == "UTC"
    assert df.index.name == "timestamp"
    assert df.index[0] == pd.Timestamp("2020-01-01T00:00:00Z")
    assert df.loc["2020-01-01 02:00", "close"].item() == 102.0
    assert df.index.is_monotonic_increasing


def test_plus_zero_offset_is_accepted_as_utc(tmp_path):
    rows = [r.replace("Z,", "+00:00,") for r in GOOD]
    df = load_candles(write_csv(tmp_path, rows))
    assert df.index[1] == pd.Timestamp("2020-01-01T01:00:00Z")


def test_btc_preset_loads_real_file():
    df = load_candles("btc1h")
    assert len(df) == 61_246
    assert df.index[0] == pd.Timestamp("2018-01-01T00:00:00Z")
    assert df.index[-1] == pd.Timestamp("2024-12-31T23:00:00Z")
    first = df.iloc[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        13715.65,
        13715.65,
        13400.01,
        13529.01,
        443.356199,
    )
    assert df.attrs["sha256"] == presets.PRESETS["btc1h"].candles.sha256


# --- one test per validation error -----------------------------------------------------------


def test_missing_columns_lists_missing_and_found(tmp_path):
    path = write_csv(
        tmp_path, [r.rsplit(",", 1)[0] for r in GOOD], header="timestamp,open,high,low,close"
    )
    msg = refused(path)
    assert "missing column(s) volume" in msg
    assert "'timestamp', 'open', 'high', 'low', 'close'" in msg


def test_unparseable_timestamp_names_line_and_value(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(2, "not-a-time,108,109,100,102,3")))
    assert "unparseable timestamps" in msg and "line 4" in msg and "'not-a-time'" in msg


def test_naive_timestamp_is_refused(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(1, "2020-01-01T01:00:00,105,112,101,108,7")))
    assert "no time zone" in msg and "line 3" in msg and "must be UTC" in msg


def test_non_utc_offset_is_refused(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(3, "2020-01-01T05:00:00+02:00,102,104,99,103,4")))
    assert "UTC offset" in msg and "line 5" in msg and "+02:00" in msg


def test_unsorted_rows(tmp_path):
    rows = [GOOD[0], GOOD[2], GOOD[1], GOOD[3]]
    msg = refused(write_csv(tmp_path, rows))
    assert "not sorted" in msg and "line 4 (2020-01-01T01:00:00Z)" in msg


def test_duplicate_timestamps(tmp_path):
    rows = [GOOD[0], GOOD[1], GOOD[1].replace(",7", ",8"), GOOD[2]]
    msg = refused(write_csv(tmp_path, rows))
    assert "duplicate timestamps" in msg and "line 4 (2020-01-01T01:00:00Z" in msg


def test_nan_names_column_and_row(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(2, "2020-01-01T02:00:00Z,108,109,100,,3")))
    assert "NaN or infinite values in column(s) close (1 row)" in msg
    assert "line 4 (2020-01-01T02:00:00Z close=nan)" in msg


def test_non_numeric_cell(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(1, "2020-01-01T01:00:00Z,105,abc,101,108,7")))
    assert "column high" in msg and "line 3" in msg and "'abc'" in msg


def test_nonpositive_price(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(2, "2020-01-01T02:00:00Z,108,109,0,102,3")))
    assert (
        "non-positive prices" in msg and "line 4 (2020-01-01T02:00:00Z" in msg and "low=0.0" in msg
    )


def test_high_below_low(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(0, "2020-01-01T00:00:00Z,100,90,110,100,5")))
    assert "high < low" in msg and "line 2 (2020-01-01T00:00:00Z high=90.0, low=110.0)" in msg


def test_open_or_close_outside_range(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(3, "2020-01-01T03:00:00Z,102,104,99,120,4")))
    assert "open or close outside [low, high]" in msg and "line 5" in msg and "close=120.0" in msg


def test_negative_volume(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(1, "2020-01-01T01:00:00Z,105,112,101,108,-7")))
    assert "negative volume" in msg and "line 3 (2020-01-01T01:00:00Z volume=-7.0)" in msg


def test_many_bad_rows_quote_five_and_count_all(tmp_path):
    times = pd.date_range("2020-01-01", periods=12, freq="1h", tz="UTC")
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},100,90,110,100,1" for t in times]  # every row high < low
    msg = refused(write_csv(tmp_path, rows))
    assert msg.count("high=90.0") == 5
    assert "and 7 more [12 rows in all]" in msg


def test_header_only_file(tmp_path):
    assert "no data rows" in refused(write_csv(tmp_path, []))


def test_unsupported_extension(tmp_path):
    path = tmp_path / "candles.xlsx"
    path.write_text("{}")
    assert "unsupported file type" in refused(path)


def test_unknown_source():
    with pytest.raises(
        FileNotFoundError, match="presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h"
    ):
        load_candles("btc15m")


# --- formats ---------------------------------------------------------------------------------


def test_gzip_csv(tmp_path):
    plain = write_csv(tmp_path, GOOD)
    gz = tmp_path / "candles.csv.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    pd.testing.assert_frame_equal(load_candles(gz), load_candles(plain))


def test_parquet_round_trip(tmp_path, make_candles):
    frame = make_candles(n=50)
    path = tmp_path / "candles.parquet"
    frame.to_parquet(path)
    back = load_candles(path)
    pd.testing.assert_frame_equal(back, frame, check_freq=False, check_index_type=False)
    assert (back.index == frame.index).all() and back.index.unit == "ns"
    assert back.index.name == "timestamp" and str(back.index.tz) == "UTC"


def test_parquet_with_naive_timestamps_is_refused(tmp_path, make_candles):
    frame = make_candles(n=5)
    frame.index = frame.index.tz_localize(None)
    path = tmp_path / "naive.parquet"
    frame.to_parquet(path)
    assert "naive (no time zone)" in refused(path)


# --- integrity -------------------------------------------------------------------------------


def test_file_sha256_matches_recorded_hash():
    data_file = presets.PRESETS["eth1h"].candles
    assert file_sha256(data_file.path) == data_file.sha256


def test_modified_preset_file_fails_hash_check(tmp_path, monkeypatch):
    name = presets.PRESETS["btc1h"].candles.filename
    rows = GOOD
    with gzip.open(tmp_path / name, "wt") as fh:
        fh.write("\n".join([HEADER, *rows]) + "\n")
    monkeypatch.setattr(preset_types, "DATA_DIR", tmp_path)  # DataFile.path reads it at call time
    with pytest.raises(DataIntegrityError) as info:
        load_candles("btc1h")
    msg = str(info.value)
    assert name in msg and presets.PRESETS["btc1h"].candles.sha256 in msg
    assert file_sha256(tmp_path / name) in msg and "git checkout -- data/" in msg
    assert len(load_candles(tmp_path / name)) == 4  # by path: no hash check
    assert len(load_candles("btc1h", verify=False)) == 4


# --- cache -----------------------------------------------------------------------------------


def test_cache_returns_copies(tmp_path):
    path = write_csv(tmp_path, GOOD)
    first = load_candles(path)
    first.iloc[0, 0] = -1.0
    assert load_candles(path).iloc[0, 0] == 100.0


def test_cache_sees_rewritten_file(tmp_path):
    path = write_csv(tmp_path, GOOD)
    assert len(load_candles(path)) == 4
    write_csv(tmp_path, GOOD[:3])
    assert len(load_candles(path)) == 3


# --- lenient read ----------------------------------------------------------------------------


def test_read_candles_raw_keeps_what_the_loader_refuses(tmp_path):
    rows = [GOOD[0], GOOD[1], GOOD[1], "2020-01-01T02:00:00,108,109,100,,3", "garbage,1,1,1,1,1"]
    raw = read_candles_raw(write_csv(tmp_path, rows))
    assert len(raw) == 4  # the garbage-timestamp row is left out, and counted
    assert raw.attrs["read_issues"] == {
        "unparseable_values": 0,
        "unparseable_timestamps": 1,
        "non_utc_timestamps": 1,
    }
    assert raw.index.duplicated().sum() == 1 and raw["close"].isna().sum() == 1


# --- funding ---------------------------------------------------------------------------------


def test_load_funding_preset():
    rate = load_funding("btc1h")
    assert rate.name == "funding_rate" and rate.dtype == np.float64 and len(rate) == 5_819
    assert rate.index[0] == pd.Timestamp("2019-09-10T08:00:00Z")
    assert rate.index[-1] == pd.Timestamp("2024-12-31T16:00:00Z")
    assert rate.min() == -0.003 and rate.loc["2020-03-13 08:00"].item() == -0.003


def test_load_funding_refuses_duplicates(tmp_path):
    path = write_csv(
        tmp_path,
        [
            "2020-01-01T00:00:00Z,0.0001",
            "2020-01-01T08:00:00Z,0.0002",
            "2020-01-01T08:00:00Z,0.0003",
        ],
        header="timestamp,funding_rate",
    )
    with pytest.raises(
        DataValidationError, match="duplicate timestamps.*line 4 \\(2020-01-01T08:00:00Z"
    ):
        load_funding(path)


def test_load_funding_missing_column(tmp_path):
    path = write_csv(tmp_path, ["2020-01-01T00:00:00Z,0.0001"], header="timestamp,rate")
    with pytest.raises(
        DataValidationError,
        match="missing column\\(s\\) funding_rate; columns found: 'timestamp', 'rate'",
    ):
        load_funding(path)


def test_preset_without_funding_returns_none(monkeypatch):
    base = presets.PRESETS["btc1h"]
    monkeypatch.setitem(presets.PRESETS, "nofund", presets.Preset("nofund", base.candles, None))
    assert load_funding("nofund") is None


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert "the file is empty" in refused(path)


def test_ragged_csv_line(tmp_path):
    msg = refused(write_csv(tmp_path, with_row(2, "2020-01-01T02:00:00Z,108,109,100,102,3,99")))
    assert "malformed CSV" in msg and "line 4" in msg
