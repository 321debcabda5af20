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


@pytest.mark.parametrize(
    ("freq", "bar", "words"),
    [
        ("5min", "1h", "declared bar size 1h but the file's bars are 5m"),
        ("1D", "1h", "declared bar size 1h but the file's bars are 1d"),
    ],
)
def test_clean_refuses_a_declared_bar_size_the_file_lacks(tmp_path, freq, bar, words):
    idx = pd.date_range("2020-01-01", periods=400, freq=freq, tz="UTC")
    c = 100.0 + (idx.asi8 % 7)
    frame = pd.DataFrame(
        {"open": c, "high": c + 1, "low": c - 1, "close": c, "volume": 1.0},
        index=idx.rename("timestamp"),
    )
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "x.csv"
    frame.to_csv(path)
    proc = run("clean", str(path), "--bar", bar)
    assert proc.returncode == 2 and words in proc.stderr and len(proc.stderr.splitlines()) == 1
    detected = run("clean", str(path))  # detected, said, and graded on its own grid
    assert detected.returncode == 0, detected.stderr
    assert "valid_fraction: 1.0000" in detected.stdout and "bar size:" in detected.stderr
