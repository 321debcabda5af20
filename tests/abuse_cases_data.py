"""Hostile inputs for the data layer (issues 23 item 5, 24 items 2, 4, 5), picked up by
tests/test_cli_abuse.py: exit 2, one ``error:`` line containing the fragment, no traceback,
nothing written. Placeholders ({d_<name>}) come from ``fixtures(tmp)``: small files shaped like
the real ones (a gzip bomb, a boolean volume, a spike, CryptoDataDownload and Freqtrade files,
catalogs with bad splits or a preset's name, funding that misses the candles or is absurd)."""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

PPO = "agents.ppo"


def _ppo(cid: str, env: list[str], frag: str) -> tuple[str, str, list[str], str]:
    return (cid, PPO, [*env, "--run-dir", "{new}"], frag)


CASES: list[tuple[str, str, list[str], str]] = [
    ("data clean gzip bomb", "envs.data", ["clean", "{d_bomb}"], "line 2 is longer than 4,096"),
    ("data report gzip bomb", "envs.data", ["report", "{d_bomb}"], "line 2 is longer than 4,096"),
    ("data clean zstd csv", "envs.data", ["clean", "{d_zst}"], "zstd-compressed CSV is not"),
    ("data clean boolean volume", "envs.data", ["clean", "{d_bool}"], "holds True/False words"),
    (
        "data clean spike run, outliers raise",
        "envs.data",
        ["clean", "{d_spike}", "--outliers", "raise"],
        "20 bad tick(s) (k=10): 2024-01-05T04:00:00Z",
    ),
    (
        "data clean 1000x wick, outliers raise",
        "envs.data",
        ["clean", "{d_wick}", "--outliers", "raise"],
        "1 bad tick(s) (k=10): 2024-01-07T06:00:00Z",
    ),
    ("data report url line, bad header", "envs.data", ["report", "{d_urlbad}"], "line 1 holds"),
    ("data clean date and time columns", "envs.data", ["clean", "{d_datetime}"], "both a 'date'"),
    _ppo("ppo env mixed epoch units", ["--env", "{d_mixed}"], "mixes epoch units"),
    _ppo(
        "ppo env CDD row out of place", ["--env", "{d_cdd_bad}"], "line 299 (2024-01-01T02:00:00Z)"
    ),
    _ppo("ppo env freqtrade json short row", ["--env", "{d_ft_bad}"], "row 3 is [1704078000000"),
    _ppo(
        "ppo catalog val inside train",
        ["--env", "x", "--catalog", "{d_cat_val}"],
        "entry x: split val [2024-01-03T00:00:00, 2024-01-05T00:00:00) starts before train ends",
    ),
    _ppo(
        "ppo catalog entry named btc1h",
        ["--env", "btc1h", "--catalog", "{d_cat_preset}"],
        "entry btc1h has the name of a preset",
    ),
    _ppo(
        "ppo funding without overlap",
        ["--env", "{d_candles}", "--funding", "{d_fund_old}"],
        "do not overlap the candles [2024-01-01T00:00:00Z, 2024-01-13T12:00:00Z)",
    ),
    _ppo(
        "ppo funding partial",
        ["--env", "{d_candles}", "--funding", "{d_fund_part}"],
        "no settlements in [2024-01-06T08:00:00Z, 2024-01-13T12:00:00Z) (172 h)",
    ),
    _ppo(
        "ppo funding rate 5.0",
        ["--env", "{d_candles}", "--funding", "{d_fund_abs}", "--allow-partial-funding"],
        "absurd funding rates",
    ),
]


def _ohlcv(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.002,
         "low": np.minimum(open_, close) * 0.998, "close": close, "volume": np.full(n, 5.0)},
        index=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC"),
    )  # fmt: skip


def _csv(frame: pd.DataFrame, path: Path, stamps: list[str] | None = None) -> str:
    table = frame.copy()
    table.index = stamps if stamps is not None else table.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    table.rename_axis("timestamp").to_csv(path)
    return str(path)


def _funding(path: Path, start: str, end: str, rate: float = 1e-4) -> str:
    idx = pd.date_range(start, end, freq="8h", tz="UTC")
    frame = pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "funding_rate": rate})
    frame.to_csv(path, index=False)
    return str(path)


def _cdd_bad(path: Path, frame: pd.DataFrame) -> str:
    order = list(range(299, -1, -1))  # newest first, as CryptoDataDownload writes it ...
    order[-3], order[-4] = order[-4], order[-3]  # ... but 02:00 written above 03:00
    lines = ["https://www.CryptoDataDownload.com", "unix,date,symbol,open,high,low,close,"
             "Volume BTC,Volume USDT"]  # fmt: skip
    for i in order:
        t, row = frame.index[i], frame.iloc[i]
        lines.append(f"{t.value // 10**6},{t:%Y-%m-%d %H:%M:%S},BTCUSDT,{row.open},{row.high},"
                     f"{row.low},{row.close},{row.volume},{row.volume * row.close}")  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return str(path)


_BUILT: dict[str, str] = {}


def fixtures(tmp: Path) -> dict[str, str]:
    """This pass's placeholder files. Built once per process (0.2 s; the suite calls this for
    every case of every pass) in a folder of their own: read-only inputs, never outputs."""
    del tmp  # shared across cases; each case's outputs still go to its own tmp ({new})
    if not _BUILT:
        _BUILT.update(_build(Path(tempfile.mkdtemp(prefix="abuse_data_"))))
    return dict(_BUILT)


def _build(d: Path) -> dict[str, str]:
    frame = _ohlcv()
    (d / "bomb.csv.gz").write_bytes(
        gzip.compress(b"timestamp,open,high,low,close,volume\n" + b"9" * 1_000_000)
    )
    (d / "c.csv.zst").write_bytes(b"\x28\xb5\x2f\xfd" + b"\0" * 16)
    boolean = frame.astype({"volume": object})
    boolean["volume"] = ["True", "False"] * 150
    spike = frame.copy()
    spike.iloc[100:120, :4] *= 1000.0
    wick = frame.copy()
    wick.iloc[150, 1] = 1000 * wick["close"].iat[150]
    ms = [str(t.value // 10**6) for t in frame.index]
    mixed = ms[:7] + [str(t.value // 10**9) for t in frame.index[7:]]
    (d / "urlbad.csv").write_text("https://www.CryptoDataDownload.com\nunix,o,h,l,c\n1,2,3,4,5\n")
    (d / "datetime.csv").write_text(
        "date,time,open,high,low,close,volume\n2024-01-01,00:00,1,1,1,1,1\n"
    )
    rows = [
        [t.value // 10**6, *map(float, r)]
        for t, r in zip(frame.index, frame.to_numpy(), strict=True)
    ]
    rows[3] = rows[3][:5]
    (d / "BTC_USDT-1h.json").write_text(json.dumps(rows))
    (d / "cat_val.yml").write_text(
        "x:\n  candles: c.csv\n  splits:\n    train: [2024-01-01, 2024-01-08]\n"
        "    val: [2024-01-03, 2024-01-05]\n    test: [2024-01-08, 2024-01-12]\n"
    )
    (d / "cat_preset.yml").write_text("btc1h:\n  candles: c.csv\n")
    return {
        "d_bomb": str(d / "bomb.csv.gz"),
        "d_zst": str(d / "c.csv.zst"),
        "d_bool": _csv(boolean, d / "bool.csv"),
        "d_spike": _csv(spike, d / "spike.csv"),
        "d_wick": _csv(wick, d / "wick.csv"),
        "d_urlbad": str(d / "urlbad.csv"),
        "d_datetime": str(d / "datetime.csv"),
        "d_mixed": _csv(frame, d / "mixed.csv", mixed),
        "d_cdd_bad": _cdd_bad(d / "Binance_BTCUSDT_1h.csv", frame),
        "d_ft_bad": str(d / "BTC_USDT-1h.json"),
        "d_candles": _csv(frame, d / "c.csv"),
        "d_cat_val": str(d / "cat_val.yml"),
        "d_cat_preset": str(d / "cat_preset.yml"),
        "d_fund_old": _funding(d / "f_old.csv", "2023-01-01", "2023-03-01"),
        "d_fund_part": _funding(d / "f_part.csv", "2024-01-01", "2024-01-06"),
        "d_fund_abs": _funding(d / "f_abs.csv", "2024-01-01", "2024-01-14", rate=5.0),
    }
