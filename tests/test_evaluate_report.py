"""evaluate.headtohead / plots / report on hand-made Backtests (no env needed)."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from backtest.metrics import position_shares
from backtest.record import Backtest, aligned_returns
from backtest.stats import per_period_sharpe
from evaluate.headtohead import compare
from evaluate.plots import write_plots
from evaluate.report import format_table, write_csv, write_html, write_json

N = 600
TS = (np.datetime64("2024-01-01T01:00", "ns") + np.arange(N) * np.timedelta64(1, "h")).astype(
    np.int64
)


def _bt(name: str, returns: np.ndarray, positions: np.ndarray, **meta) -> Backtest:
    eq = np.concatenate([[1.0], np.cumprod(1 + returns)])
    z = np.zeros(N)
    return Backtest(
        name, TS.copy(), eq, positions, z + 1e-5 * (positions != 0), z, z, 8760, meta=meta
    )


@pytest.fixture
def backtests() -> list[Backtest]:
    rng = np.random.default_rng(0)
    market = 0.0002 + 0.01 * rng.standard_normal(N)
    bts = [
        _bt("buy_and_hold", market, np.ones(N)),
        _bt("flat", np.zeros(N), np.zeros(N)),
    ]
    for s in range(3):
        pos = rng.choice([-1.0, 0.0, 1.0], size=N)
        bts.append(_bt(f"ppo_s{s}", pos * market, pos, method="ppo", seed=s))
    return bts


def test_backtest_shape_checks():
    with pytest.raises(ValueError, match="equity needs 4 marks"):
        Backtest("x", TS[:3], np.ones(3), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), 8760)
    with pytest.raises(ValueError, match="fees has 2 values"):
        Backtest("x", TS[:3], np.ones(4), np.zeros(3), np.zeros(2), np.zeros(3), np.zeros(3), 8760)


def test_aligned_returns_match_on_timestamps(backtests):
    a, b = backtests[0], backtests[2]
    short = Backtest(
        "short",
        a.timestamps[100:],
        a.equity[100:],
        a.positions[100:],
        a.fees[100:],
        a.slippage[100:],
        a.funding[100:],
        8760,
    )
    ra, rb = aligned_returns(short, b)
    np.testing.assert_array_equal(ra, a.returns[100:])
    np.testing.assert_array_equal(rb, b.returns[100:])


def test_compare_rows_and_aggregates(backtests):
    cmp = compare(backtests, n_boot=200, seed=3)
    bh = cmp.row("buy_and_hold")
    assert bh.vs_benchmark is None
    assert bh.metrics["beta"] == pytest.approx(1.0)
    assert bh.metrics["sharpe"] == pytest.approx(bh.ci.sharpe)
    assert bh.ci.low < bh.ci.sharpe < bh.ci.high
    flat = cmp.row("flat")
    assert math.isnan(flat.metrics["sharpe"]) and math.isnan(flat.vs_benchmark.p_value)
    assert flat.metrics["n_trades"] == 0
    # DSR deflates against the 3 candidate (non-baseline) rows: below the PSR whenever their
    # Sharpes vary; baselines are not trials
    r0 = cmp.row("ppo_s0")
    assert r0.dsr < r0.psr
    assert cmp.settings["n_trials"] == 3
    sh = [per_period_sharpe(bt.returns) for bt in backtests[2:]]
    assert cmp.settings["trials_sharpe_var_per_period"] == pytest.approx(np.var(sh, ddof=1))
    forced = compare(backtests, n_boot=50, n_trials=1, trials_sharpe_var=0.0)
    assert forced.row("ppo_s0").dsr == pytest.approx(forced.row("ppo_s0").psr)
    assert bh.ruined == 0.0
    agg = cmp.aggregates["ppo"]["sharpe"]
    sharpes = [cmp.row(f"ppo_s{s}").metrics["sharpe"] for s in range(3)]
    assert agg.n == 3 and agg.mean == pytest.approx(np.mean(sharpes))
    assert agg.low < agg.mean < agg.high
    # the same resamples: rerunning gives identical intervals
    again = compare(backtests, n_boot=200, seed=3)
    assert again.row("ppo_s1").vs_benchmark == cmp.row("ppo_s1").vs_benchmark
    with pytest.raises(ValueError, match="benchmark 'nope'"):
        compare(backtests, benchmark="nope", n_boot=10)


def test_outputs_written(backtests, tmp_path):
    cmp = compare(backtests, n_boot=100, seed=0)
    text = format_table(cmp)
    assert "buy_and_hold" in text and "ppo (mean of 3)" in text and "Sharpe (ann.)" in text
    plots = write_plots(backtests, tmp_path)
    for p in plots.values():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ctx = {"env": "synthetic", "split": "test"}
    j = json.loads(write_json(cmp, tmp_path / "metrics.json", ctx).read_text())
    assert j["policies"]["flat"]["sharpe"] is None  # nan -> null
    assert j["policies"]["buy_and_hold"]["total_return"] == pytest.approx(
        backtests[0].equity[-1] - 1
    )
    assert "never feeds model selection" in j["note"]
    rows = list(csv.DictReader(open(write_csv(cmp, tmp_path / "metrics.csv"))))
    assert [r["policy"] for r in rows][:2] == ["buy_and_hold", "flat"]
    assert rows[-1]["policy"] == "ppo (mean of 3)"
    page = write_html(cmp, tmp_path / "report.html", plots, ctx).read_text()
    assert page.count("data:image/png;base64,") == 4
    assert "never feeds model selection" in page and "ppo_s2" in page


def test_position_shares():
    assert position_shares(np.array([-1.0, 0.0, 0.5, 1.0])) == (0.25, 0.25, 0.5)
