"""Funding checked against the candles (issue 24 item 2): a file that does not overlap them or
covers only part of them is refused, naming the uncovered span, unless the user opts out
(--allow-partial-funding / partial_funding: true); absurd rates are refused."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from envs.data import DataValidationError, load_funding
from envs.data.coverage import funding_gaps
from envs.markets import MarketSpecError, resolve_market
from envs.marketspec import add_market_flags, market_from_args, pin_market_argv
from lab.config import ConfigError
from tests.conftest import synthetic_candles


def _candles(tmp_path: Path) -> Path:  # 2023-01-01T00:00Z .. 2023-01-21T19:00Z, hourly
    frame = synthetic_candles(500, start="2023-01-01")
    frame.index = frame.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path / "x_1h.csv"
    frame.rename_axis("timestamp").to_csv(path)
    return path


def _funding(tmp_path: Path, start: str, end: str, rate: float = 1e-4, drop=()) -> Path:
    idx = pd.date_range(start, end, freq="8h", tz="UTC")
    idx = idx.delete([i for i in drop if i < len(idx)])
    path = tmp_path / f"f_{start}_{end}.csv"
    pd.DataFrame({"timestamp": idx.strftime("%Y-%m-%dT%H:%M:%SZ"), "funding_rate": rate}).to_csv(
        path, index=False
    )
    return path


def test_full_coverage_is_accepted(tmp_path):
    m = resolve_market(
        str(_candles(tmp_path)), funding=_funding(tmp_path, "2023-01-01", "2023-01-22")
    )
    assert m.funding is not None


def test_funding_that_does_not_overlap_the_candles_is_refused(tmp_path):
    f = _funding(tmp_path, "2022-01-01", "2022-06-01")
    with pytest.raises(DataValidationError) as info:
        resolve_market(str(_candles(tmp_path)), funding=f)
    assert str(info.value) == (
        f"funding {f}: its settlements [2022-01-01T00:00:00Z, 2022-06-01T00:00:00Z] do not "
        "overlap the candles [2023-01-01T00:00:00Z, 2023-01-21T20:00:00Z); those bars would be "
        "charged zero funding. Give a funding file that covers the candles, or pass "
        "--allow-partial-funding to accept zero funding there"
    )


def test_partial_funding_names_the_uncovered_spans_and_can_be_accepted(tmp_path):
    f = _funding(tmp_path, "2023-01-05", "2023-01-18", drop=range(10, 16))
    with pytest.raises(DataValidationError) as info:
        resolve_market(str(_candles(tmp_path)), funding=f)
    assert (
        "covers only part of the candles [2023-01-01T00:00:00Z, 2023-01-21T20:00:00Z): no "
        "settlements in [2023-01-01T00:00:00Z, 2023-01-04T16:00:00Z) (88 h); "
        "[2023-01-08T08:00:00Z, 2023-01-10T00:00:00Z) (40 h); "
        "[2023-01-18T08:00:00Z, 2023-01-21T20:00:00Z) (84 h); those bars" in str(info.value)
    )
    m = resolve_market(str(_candles(tmp_path)), funding=f, partial_funding=True)
    assert m.funding is not None


def test_catalog_entry_can_opt_out_and_says_how(tmp_path):
    _candles(tmp_path)
    f = _funding(tmp_path, "2023-01-05", "2023-01-22")
    cat = tmp_path / "c.yml"
    cat.write_text(f"x:\n  candles: x_1h.csv\n  funding: {f.name}\n")
    with pytest.raises(
        DataValidationError,
        match="or pass --allow-partial-funding \\(or partial_funding: true in the entry\\)",
    ) as info:
        resolve_market("x", catalog=cat)
    assert str(info.value).startswith(f"{cat}: entry x: funding {tmp_path / f.name}: covers only")
    cat.write_text(f"x:\n  candles: x_1h.csv\n  funding: {f.name}\n  partial_funding: true\n")
    assert resolve_market("x", catalog=cat).funding is not None


def test_the_cli_flag_is_carried_in_the_market_key(tmp_path, capsys):
    c, f = _candles(tmp_path), _funding(tmp_path, "2023-01-05", "2023-01-22")
    parser = argparse.ArgumentParser()
    parser.add_argument("--env")
    add_market_flags(parser)
    args = parser.parse_args(["--env", str(c), "--funding", str(f)])
    with pytest.raises(ConfigError, match="covers only part of the candles"):
        market_from_args(args)
    args = parser.parse_args(["--env", str(c), "--funding", str(f), "--allow-partial-funding"])
    market = market_from_args(args)
    assert market is not None and args.env.endswith("&partial_funding=1")
    argv = ["--env", str(c), "--funding", str(f), "--allow-partial-funding", "--seed", "1"]
    assert pin_market_argv(argv, args.env) == ["--seed", "1", "--env", args.env]


def test_a_hole_of_two_missing_settlements_is_tolerated_three_are_not():
    bars = pd.date_range("2023-01-01", periods=240, freq="1h", tz="UTC")
    settle = pd.date_range("2023-01-01", "2023-01-11", freq="8h", tz="UTC")
    hour = pd.Timedelta(hours=1)
    assert funding_gaps(bars, settle.delete([5, 6]), hour) == []
    gaps = funding_gaps(bars, settle.delete([5, 6, 7]), hour)
    assert gaps == [(settle[5], settle[7])]


@pytest.mark.parametrize("rate", [5.0, -0.06])
def test_absurd_funding_rates_are_refused(tmp_path, rate):
    f = _funding(tmp_path, "2023-01-01", "2023-01-03")
    frame = pd.read_csv(f)
    frame.loc[3, "funding_rate"] = rate
    frame.to_csv(f, index=False)
    with pytest.raises(DataValidationError) as info:
        load_funding(f)
    assert str(info.value) == (
        f"{f}: absurd funding rates (|rate| above 0.05 = 5% of notional per settlement; "
        f"exchanges cap funding far below): line 5 (2023-01-02T00:00:00Z funding_rate={rate!r}) "
        "[1 row in all]. Rates are fractions per settlement (0.0001 = 0.01%): divide a "
        "percentage column by 100, or correct the cells. To list every problem in the file at "
        "once: python -m envs.data report PATH."
    )


def test_shipped_funding_is_within_the_bound():
    for name in ("btc1h", "eth1h"):
        assert np.abs(load_funding(name).to_numpy()).max() <= 0.00375


def test_partial_funding_in_a_catalog_must_be_a_boolean(tmp_path):
    _candles(tmp_path)
    cat = tmp_path / "c.yml"
    cat.write_text("x:\n  candles: x_1h.csv\n  partial_funding: 'yes please'\n")
    with pytest.raises(MarketSpecError) as info:
        resolve_market("x", catalog=cat)
    assert (
        str(info.value)
        == f"{cat}: entry x: partial_funding must be true or false, got 'yes please'"
    )
