"""Hostile inputs to `python -m envs.data`: one line on stderr, exit 2, no traceback, nothing written.

Each case builds a bad input, runs the CLI as a subprocess with ``--out`` and checks that the
output file was not created (or a protected file not changed).
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envs.data import load_candles
from envs.data.loading import file_sha256
from envs.presets import DATA_DIR, PRESETS

pytestmark = pytest.mark.slow  # a Python process per case (~2 s)

REPO = Path(__file__).resolve().parent.parent
HEADER = "timestamp,open,high,low,close,volume"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "envs.data", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def good_rows(n: int = 300, *, scale: np.ndarray | None = None, stamps=None) -> list[str]:
    rng = np.random.default_rng(0)
    c = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    o = np.r_[100.0, c[:-1]]
    h, lo, v = np.maximum(o, c) * 1.002, np.minimum(o, c) * 0.998, rng.uniform(1, 10, n)
    k = np.ones(n) if scale is None else scale
    if stamps is None:
        idx = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
        stamps = idx.strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        f"{t},{a!r},{b!r},{d!r},{e!r},{f!r}"
        for t, a, b, d, e, f in zip(
            stamps, *(x.tolist() for x in (o * k, h * k, lo * k, c * k, v)), strict=True
        )
    ]


def text(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def _make(case: str, d: Path) -> Path:
    good = text(good_rows())
    path = d / "bad.csv"
    if case == "binary":
        path.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    elif case == "latin-1":
        path.write_bytes(good.replace("volume", "volumé").encode("latin-1"))
    elif case == "utf-16":
        path.write_bytes(good.encode("utf-16"))
    elif case == "truncated gz":
        path = d / "bad.csv.gz"
        blob = gzip.compress(good.encode())
        path.write_bytes(blob[: len(blob) // 2])
    elif case == "fake gz":
        path = d / "bad.csv.gz"
        path.write_text(good)
    elif case == "garbage parquet":
        path = d / "bad.parquet"
        path.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    elif case == "directory":
        path = d / "dir.csv"
        path.mkdir()
    elif case in ("NaT", "year 2300"):
        rows = good_rows()
        bad = "NaT" if case == "NaT" else "2300-01-01T00:00:00Z"
        rows[5] = bad + rows[5][rows[5].index(",") :]
        path.write_text(text(rows))
    elif case == "epoch microseconds":
        idx = pd.date_range("2024-01-01", periods=300, freq="1h", tz="UTC")
        path.write_text(text(good_rows(stamps=[str(t.value // 10**3) for t in idx])))
    elif case == "mixed epoch units":
        idx = pd.date_range("2024-01-01", periods=300, freq="1h", tz="UTC")
        stamps = [str(t.value // (10**9 if i >= 7 else 10**6)) for i, t in enumerate(idx)]
        path.write_text(text(good_rows(stamps=stamps)))
    elif case == "duplicated column":
        rows = [r + "," + r.split(",")[4] for r in good_rows()]
        path.write_text(text(rows, HEADER + ",close"))
    elif case == "level shift 1000x":
        path.write_text(text(good_rows(scale=np.r_[np.ones(150), np.full(150, 1000.0)])))
    elif case == "1e300 value":
        rows = good_rows()
        f = rows[100].split(",")
        rows[100] = ",".join([f[0], f[1], "1e300", f[3], "1e300", f[5]])
        path.write_text(text(rows))
    else:
        path.write_text(good)
    return path


CASES = {  # case -> (extra CLI args, words the one-line message must contain)
    "binary": ((), "binary data, not a CSV text file"),
    "latin-1": ((), "not UTF-8 text: byte 0xe9 on line 1 (looks like latin-1"),
    "utf-16": ((), "UTF-16 text; save the file as UTF-8"),
    "truncated gz": ((), "truncated or corrupt gzip file"),
    "fake gz": ((), "named .gz but not gzip-compressed"),
    "garbage parquet": ((), "not a parquet file"),
    "directory": ((), "is a directory"),
    "NaT": ((), "unparseable timestamps: line 7 ('NaT')"),
    "year 2300": ((), "timestamps before 1970 or in the future: line 7 ('2300-01-01T00:00:00Z')"),
    "epoch microseconds": (
        (),
        "timestamps look like epoch microseconds (e.g. '1704067200000000' on line 2)",
    ),
    "mixed epoch units": (
        (),
        "mixes epoch units: '1704067200000' on line 2 is milliseconds but '1704092400' on line 9 is seconds (293 such rows)",
    ),
    "duplicated column": ((), "column 'close' appears twice in the header"),
    "level shift 1000x": ((), "level shift at 2024-01-07T06:00:00Z"),
    "1e300 value": ((), "absurd values"),
    "freq banana": (("--freq", "banana"), "'banana' is not a bar size"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, case):
    extra, words = CASES[case]
    path = _make(case, tmp_path)
    out = tmp_path / "out" / "cleaned.csv.gz"
    proc = run("clean", str(path), "--out", str(out), *extra)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert words in proc.stderr, proc.stderr
    if case not in ("freq banana", "directory"):
        assert str(path) in proc.stderr  # names the file
    assert not out.exists() and not out.parent.exists()


@pytest.mark.parametrize(
    "args",
    [
        ("clean", "btc1h", "--out", "data/btcusdt_1h.csv.gz"),
        ("clean", "btc4h", "--out", str(DATA_DIR / "ethusdt_funding.csv.gz")),
        (
            "resample",
            "data/btcusdt_1h.csv.gz",
            "--to",
            "1d",
            "--out",
            "data/../data/btcusdt_1h.csv.gz",
        ),
    ],
)
def test_out_never_overwrites_the_input_or_a_shipped_file(args):
    before = {p.name: file_sha256(p.candles.path) for p in PRESETS.values()}
    proc = run(*args)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "nothing was written" in proc.stderr and "Traceback" not in proc.stderr
    assert before == {p.name: file_sha256(p.candles.path) for p in PRESETS.values()}


def test_out_is_the_input_path(tmp_path):
    path = _make("good", tmp_path)
    before = file_sha256(path)
    proc = run("clean", str(path), "--out", str(tmp_path / "." / path.name))
    assert proc.returncode == 2 and "is the input file itself" in proc.stderr
    assert file_sha256(path) == before


def test_epoch_milliseconds_are_accepted_and_extra_columns_reported(tmp_path):
    idx = pd.date_range("2024-01-01", periods=300, freq="1h", tz="UTC")
    rows = [r + ",7" for r in good_rows(stamps=[str(t.value // 10**6) for t in idx])]
    path = tmp_path / "ms.csv"
    path.write_text(text(rows, HEADER + ",trades"))
    proc = run("clean", str(path), "--out", str(tmp_path / "ok.csv"))
    assert proc.returncode == 0, proc.stderr
    assert "note: column(s) trades" in proc.stdout and "are not read" in proc.stdout
    assert load_candles(tmp_path / "ok.csv").index[0] == idx[0]
    report = run("report", str(path), "--json")
    assert report.returncode == 0 and '"extra_columns": [\n    "trades"' in report.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--exchange", "nope"), "--exchange 'nope': not a ccxt exchange id"),
        (("--timeframe", "banana"), "'banana' is not a bar size"),
        (("--out", "data/btcusdt_1h.csv.gz"), "is a shipped, hash-protected data file"),
    ],
)
def test_fetch_refuses_bad_arguments_before_any_network(tmp_path, args, words):
    base = {"--exchange": "binance", "--symbol": "SOL/USDT", "--timeframe": "1h"}
    base |= {"--since": "2020-08-01", "--out": str(tmp_path / "sol.csv.gz")}
    base |= dict(zip(args[::2], args[1::2], strict=True))
    proc = run("fetch", *[x for kv in base.items() for x in kv])
    assert proc.returncode == 2 and words in proc.stderr, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
