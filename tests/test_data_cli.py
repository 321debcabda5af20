"""`python -m envs.data` end to end, as a subprocess (a few seconds in all)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from envs.data import load_candles
from envs.presets import BITSTAMP_2011

pytestmark = pytest.mark.slow  # each case starts a Python process (~2 s)

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "envs.data", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_report_btc_json():
    proc = run("report", "btc1h", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)  # stdout is only the JSON object
    assert (r["rows"], r["gaps"], r["gap_runs"], r["longest_gap"]) == (61_246, 122, 27, 33)
    assert (r["zero_volume"], r["flat"], r["outliers"]) == (3, 3, 0)
    assert r["valid_fraction"] == 61_243 / 61_368


def test_report_text_for_a_file_the_loader_refuses(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2020-01-01T00:00:00Z,1,2,1,2,1\n2020-01-01T00:00:00Z,1,2,1,2,1\n2020-01-01T03:00:00Z,1,2,1,2,1\n"
    )
    proc = run("report", str(path), "--bar", "1h")
    assert proc.returncode == 0, proc.stderr
    assert "duplicates              1" in proc.stdout and "gaps                    2" in proc.stdout
    refused = run("clean", str(path))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "duplicate timestamps" in refused.stderr and "line 3" in refused.stderr


def test_clean_bitstamp_is_refused_by_the_gate():
    proc = run("clean", str(BITSTAMP_2011.path))
    assert proc.returncode == 2 and proc.stdout == ""
    assert "valid_fraction 0.0809" in proc.stderr and "min_valid_fraction 0.9" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_clean_btc_writes_atomically(tmp_path):
    out = tmp_path / "btc_clean.csv.gz"
    proc = run("clean", "btc1h", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "61,246 -> 61,243 (3 dropped)" in proc.stdout
    cleaned = load_candles(out)
    assert len(cleaned) == 61_243 and (cleaned.volume > 0).all()
    assert pd.Timestamp("2019-06-07T21:00:00Z") not in cleaned.index
    assert [p.name for p in tmp_path.iterdir()] == ["btc_clean.csv.gz"]  # no temp file left


def test_clean_json_and_help():
    proc = run("clean", "btc1h", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["rows_after"] == 61_243
    helptext = run("clean", "--help").stdout
    assert "--min-valid-fraction" in helptext and "--out" in helptext and "--outliers" in helptext


def _bars_file(tmp_path, freq: str, n: int = 400) -> Path:
    idx = pd.date_range("2020-01-01", periods=n, freq=freq, tz="UTC")
    c = 100.0 + (idx.asi8 // 10**9 % 7)
    frame = pd.DataFrame(
        {"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0},
        index=idx.rename("timestamp"),
    )
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / f"x_{freq}.csv"
    frame.to_csv(path)
    return path


def test_bar_size_detected_declared_resampled_or_refused(tmp_path):
    five = _bars_file(tmp_path, "5min", 1200)
    detected = run("clean", str(five))  # detected, said, and graded on its own grid
    assert detected.returncode == 0, detected.stderr
    assert "(freq 5m)" in detected.stdout and "bar size: 5m" in detected.stdout
    assert "valid_fraction: 1.0000" in detected.stdout
    hourly = run("clean", str(five), "--bar", "1h")  # resampled on the fly, not passed as hourly
    assert hourly.returncode == 0 and "rows: 100 -> 100" in hourly.stdout
    daily = _bars_file(tmp_path, "1D")
    assert "(freq 1d)" in run("clean", str(daily)).stdout  # not "6,877 missing bars"
    refused = run("clean", str(daily), "--bar", "1h")
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "--bar 1h cannot be made from its 1d bars" in refused.stderr


def test_resample_cli_writes_daily_bars(tmp_path):
    out = tmp_path / "btc_1d.csv.gz"
    proc = run("resample", "data/btcusdt_1h.csv.gz", "--to", "1d", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "1h -> 1d, 61,246 -> 2,529 bars; 28 partial bar(s) at gaps dropped" in proc.stdout
    daily = load_candles(out)
    assert len(daily) == 2_529 and (daily.index.hour == 0).all()
