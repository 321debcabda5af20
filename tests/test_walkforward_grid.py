"""The multi-method walk-forward: rolling windows by hand, the main job's configuration,
undefined Sharpes said in words, a resumed run that redoes nothing finished, and a tiny real
end to end of PPO, the classifier, the trees and the momentum smoke path on the shipped data.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agents.training.config import resolve_config
from backtest.baseline_table import MOMENTUM_DAYS_GRID, trend_spec
from backtest.baselines import ConstantPolicy, MomentumPolicy, PolicySpec
from backtest.cpcv import cpcv_plans, stitch_paths
from backtest.fold_backtest import backtest_rows, eval_options
from backtest.folds import WFData, plan_folds
from backtest.record import Backtest
from backtest.runner import CostOverrides
from backtest.stats import per_period_sharpe
from envs.features import compute_features
from evaluate.walkforward.baselines import BASELINES, fold_baselines, record_fold_choices
from evaluate.walkforward.cli import main
from evaluate.walkforward.context import MethodSettings
from evaluate.walkforward.cpcv import path_curves
from evaluate.walkforward.folds import TaskOutcome
from evaluate.walkforward.grid import GridResult
from evaluate.walkforward.learners import method_settings
from evaluate.walkforward.tables import format_fold_table, method_sentence
from evaluate.walkforward.verdict import build_verdict, method_result
from lab.ledger import ledger_path
from lab.ledger_returns import load_returns

REPO = Path(__file__).resolve().parent.parent
SHORT = ["--env", "btc1h", "--folds", "2", "--start", "2023-01-01", "--end", "2024-01-01",
         "--min-train-bars", "4000", "--val-bars", "500", "--n-boot", "100"]  # fmt: skip


# --- rolling windows ----------------------------------------------------------------------------


def test_rolling_plans_by_hand():
    plans = plan_folds((0, 3000), 2, val_bars=200, purge_bars=10, info_bars=1000)
    # walk_forward_folds(3000, 2, min_train 1000, purge 10, rolling 1000): test_bars
    # (3000 - 1000 - 10) // 2 = 995, first test row 3000 - 2 * 995 = 1010
    assert [p.test for p in plans] == [(1010, 2005), (2005, 3000)]
    p0, p1 = plans
    assert p0.train == ((0, 790),) and p0.val == (800, 1000)
    # fold 1's window rolls: its information set is [1995 - 1000, 1995), not [0, 1995)
    assert p1.train == ((995, 1785),) and p1.val == (1795, 1995)
    anchored = plan_folds((0, 3000), 2, val_bars=200, purge_bars=10, min_train_bars=1000)
    assert anchored[1].train == ((0, 1785),) and anchored[1].val == p1.val
    with pytest.raises(ValueError, match="a rolling window of 300 bars cannot hold 200"):
        plan_folds((0, 3000), 2, val_bars=200, purge_bars=10, info_bars=300)


def test_cli_rolling_window_on_shipped_data(tmp_path):
    out = tmp_path / "wf"
    assert (
        main(["--methods", "momentum", *SHORT, "--train-span", "200d", "--run-dir", str(out)]) == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["context"]["windows"] == "rolling, 200d per fold"
    rows = summary["folds"]
    # 200 days of 1h bars = 4800 rows of information: train = 4800 - purge 24 - val 500
    assert [r["n_train"] for r in rows] == [4800 - 24 - 500] * 2
    assert rows[1]["train_from"] > rows[0]["train_from"]  # the window moved with the fold


# --- which configuration each method trains with ------------------------------------------------


def test_ppo_trains_with_the_main_jobs_configuration():
    ms = method_settings("ppo", "btc1h")
    main_job = resolve_config("ppo", "btc1h")
    assert (ms.feature_set, ms.window) == (main_job.env.feature_set, main_job.env.window)
    assert (ms.feature_set, ms.window) == ("flagtrader60", 16)
    assert ms.summary["gamma"] == main_job.hyper.gamma == 0.99
    assert "agents/configs/ppo.yml [btc1h]" in ms.describe()
    small = method_settings("ppo", "btc1h", window=8, timesteps=4096)
    assert small.window == 8 and small.summary["timesteps"] == 4096
    assert "--window 8" in small.describe() and "--timesteps 4096" in small.describe()
    sup = method_settings("supervised", "btc1h")
    assert (sup.feature_set, sup.window) == ("core17", 32)


# --- an undefined Sharpe is said in words -------------------------------------------------------


def _synthetic(make_candles, n=2400):
    c = make_candles(n, seed=5)
    return WFData("btc1h", c, compute_features(c, "core17"), None, "core17")


def test_an_always_flat_fold_says_why(make_candles):
    data = _synthetic(make_candles)
    plans = plan_folds((0, data.n_rows), 2, val_bars=200, purge_bars=24, min_train_bars=900)
    opts = eval_options(CostOverrides())
    market = data.market(data.fit_normaliser(plans[0].train), 16)

    def outcome(plan, policy, name):
        bt = backtest_rows(PolicySpec(name, name, policy), market, plan.test, opts, 8760.0)
        return TaskOutcome(plan, bt, math.nan, {}, {}, 0.0, 0.0)

    outcomes = {}
    for p in plans:
        outcomes[("agent", p.index, 0)] = outcome(p, ConstantPolicy(0.0), "agent")  # flat
        outcomes[("agent", p.index, 1)] = outcome(p, MomentumPolicy(24), "agent")
    grid = GridResult(outcomes, {}, 0, 4, 0.0, 0.0)
    base = [{"buy_and_hold": outcome(p, ConstantPolicy(1.0), "buy_and_hold").test} for p in plans]
    settings = {"agent": MethodSettings("agent", "core17", 16, "test")}
    v = build_verdict(settings, grid, plans, [0, 1], base, data.index, n_boot=50)
    table = format_fold_table(v.fold_rows)
    assert "nan" not in table.lower()
    assert all(r["note"] == "seed 0: always flat, Sharpe undefined" for r in v.fold_rows)
    assert "seed 0: always flat, Sharpe undefined" in table
    r = v.methods["agent"]
    assert r.collapse == {0: "always flat"} and r.summary.collapsed == [True, False]
    assert r.summary.sharpes[0] == 0.0  # counted as Sharpe 0, never dropped
    sentence = method_sentence(r, 2, v)
    assert "COLLAPSED: 1 of 2 seeds (s0 always flat)" in sentence and "nan" not in sentence
    assert "DSR" in sentence and "Turnover" in sentence
    # every seed flat: no finite Sharpe in the fold, the row still says why
    only_flat = {k: o for k, o in outcomes.items() if k[2] == 0}
    rows = build_verdict(
        settings, GridResult(only_flat, {}, 0, 2, 0.0, 0.0), plans, [0], base, data.index,
        n_boot=50,
    ).fold_rows  # fmt: skip
    assert "nan" not in format_fold_table(rows).lower()
    assert "n/a" in format_fold_table(rows)


def test_a_failed_fold_is_listed_not_dropped(make_candles):
    data = _synthetic(make_candles)
    plans = plan_folds((0, data.n_rows), 2, val_bars=200, purge_bars=24, min_train_bars=900)
    market = data.market(data.fit_normaliser(plans[0].train), 16)
    opts = eval_options(CostOverrides())
    bt = backtest_rows(
        PolicySpec("m", "m", MomentumPolicy(24)), market, plans[0].test, opts, 8760.0
    )
    grid = GridResult(
        {("m", 0, 0): TaskOutcome(plans[0], bt, 1.0, {}, {}, 0.0, 0.0)},
        {("m", 1, 0): "ValueError: boom"},
        0, 2, 0.0, 0.0,
    )  # fmt: skip
    r = method_result("m", MethodSettings("m", "core17", 16, "test"), grid, plans, [0], {})
    assert r.summary is None and r.failed == {0: "fold 1: ValueError: boom"}
    assert "no seed finished every fold (seed 0: fold 1: ValueError: boom)" in method_sentence(
        r, 2, None
    )


# --- resume: a killed run redoes nothing finished -----------------------------------------------


def _mtimes(run: Path) -> dict[str, int]:
    return {
        str(p.parent.relative_to(run)): p.stat().st_mtime_ns
        for p in run.glob("tasks/*/*/*/result.json")
    }


def test_resume_skips_finished_tasks(tmp_path, capsys):
    run = tmp_path / "wf"
    argv = ["--methods", "momentum", "--seeds", "0", "1", *SHORT, "--run-dir", str(run)]
    assert main(argv) == 0
    before = _mtimes(run)
    assert len(before) == 4
    ledger = ledger_path("btc1h")
    n_records = len(ledger.read_text().splitlines())
    # every lookback each task tried points to its per-bar val returns, whose Sharpe is the
    # record's val Sharpe (PBO/SPA read these)
    wf = [
        json.loads(x)
        for x in ledger.read_text().splitlines()
        if '"walkforward"' in x and str(run) in x
    ]
    assert len(wf) == 4 * 4
    for rec in wf:
        r = load_returns(ledger, rec["returns"])
        assert r.shape == (500,) and rec["returns"]["n_bars"] == 500
        assert per_period_sharpe(r) * math.sqrt(8760) == pytest.approx(rec["val_sharpe"])
    # a kill mid-run: one task never landed, another was half-written in its hidden folder
    lost = run / "tasks" / "momentum" / "fold01" / "seed1"
    for f in lost.rglob("*"):
        if f.is_file():
            f.unlink()
    for d in sorted(lost.rglob("*"), reverse=True):
        d.rmdir()
    lost.rmdir()
    (lost.parent / ".seed1.partial-x").mkdir()
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "3 of 4 tasks already finished, skipped" in err and "running 1 task(s)" in err
    after = _mtimes(run)
    assert set(after) == set(before)
    redone = [k for k in after if after[k] != before[k]]
    assert redone == ["tasks/momentum/fold01/seed1"]
    # the task that ran adds its 4 lookbacks' records; the skipped ones were recorded before
    assert len(ledger.read_text().splitlines()) == n_records + 4
    summary = json.loads((run / "summary.json").read_text())
    assert summary["context"]["tasks"].startswith("1 run now, 3 resumed")
    row = summary["methods"][0]
    assert row["round_trips_annual"] == pytest.approx(row["turnover_annual"] / 2)
    bh = summary["baseline_costs"]["buy_and_hold"]  # one buy per fold block: 2 blocks a year
    assert bh["fees_pct_year"] > 0 and bh["turnover_annual"] < 5
    assert summary["baseline_costs"]["flat"]["costs_pct_year"] == 0.0
    # degradation over the 4 (fold, seed) fits: the mean of their val / test Sharpes
    results = [json.loads(p.read_text()) for p in run.glob("tasks/*/*/*/result.json")]
    ovf = summary["overfitting"]
    deg = ovf["degradation"]
    assert deg["n"] == 4
    assert deg["mean_val_sharpe"] == pytest.approx(np.mean([r["val_sharpe"] for r in results]))
    oos = [r["test_summary"]["sharpe"] for r in results]
    assert deg["mean_oos_sharpe"] == pytest.approx(np.mean(oos))
    assert deg["share_oos_loss"] == pytest.approx(np.mean(np.array(oos) < 0))
    # PBO over the 2 seeds' accounts and every baseline; SPA of the 2 against 2 benchmarks
    assert ovf["pbo_n_configurations"] == 2 + len(summary["baseline_sharpes"])
    assert 0.0 <= ovf["pbo"] <= 1.0
    assert set(ovf["spa"]) == {"buy_and_hold", "tsmom_long_flat"}
    assert all(0.0 <= v["pvalue"] <= 1.0 for v in ovf["spa"].values())
    page = (run / "report.html").read_text()
    assert "Validation to out of sample over 4 (method, fold, seed) fits" in page
    assert "probability the selected configuration is overfit" in page


@pytest.mark.slow
def test_resume_after_a_real_kill(tmp_path):
    run = tmp_path / "wf"
    argv = ["--methods", "momentum", "supervised", "--seeds", "0", "1", *SHORT, "--epochs", "1",
            "--max-train-samples", "300", "--run-dir", str(run)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "evaluate.walkforward", *argv],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not _mtimes(run) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _mtimes(run)
    assert before, "no task finished before the kill"
    assert main(argv) == 0
    after = _mtimes(run)
    assert len(after) == 8
    assert all(after[k] == before[k] for k in before)  # nothing finished was redone


# --- tiny real end to end -----------------------------------------------------------------------


@pytest.mark.slow
def test_every_method_end_to_end_tiny(tmp_path):
    """Real PPO (main job's config, 2048 steps), classifier, trees and momentum on 2 folds."""
    out = tmp_path / "wf"
    argv = ["--methods", "ppo", "supervised", "trees", "momentum", "--seeds", "0", *SHORT,
            "--timesteps", "2048", "--epochs", "1", "--max-train-samples", "300",
            "--run-dir", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["method"]: r for r in summary["methods"]}
    assert set(rows) == {"ppo", "supervised", "trees", "momentum"}
    assert "flagtrader60, window 16" in rows["ppo"]["config"]
    assert "agents/configs/ppo.yml [btc1h]" in rows["ppo"]["config"]
    for r in rows.values():
        assert r["seeds"] == 1 and 0.0 <= r["p_beat_buy_and_hold"] <= 1.0
        assert r["turnover_annual"] >= 0 and r["fees_pct_year"] >= 0
    # each seed's stitched curve covers both test blocks, bar for bar
    test_bars = sum(
        json.loads((out / f"tasks/ppo/fold0{k}/seed0/result.json").read_text())["test_summary"][
            "n_bars"
        ]
        for k in (0, 1)
    )
    assert test_bars == 2 * summary["context"]["test bars per fold"]
    assert (out / "tasks/ppo/fold01/seed0/run/best_model.zip").is_file()
    page = (out / "report.html").read_text()
    assert page.index('class="verdict"') < page.index("<h3>Configurations trained")
    assert "plotly" in page and "nan" not in page.split("<script>")[0].lower()
    assert len(summary["folds"]) == 2 * 4
    records = [json.loads(x) for x in ledger_path("btc1h").read_text().splitlines()]
    wf = [r for r in records if r["source"] == "walkforward" and str(out) in r["run_dir"]]
    # one record per learned (fold, seed); the momentum smoke path one per lookback tried
    assert len(wf) == 2 * 3 + 2 * 4 and {r["algo"] for r in wf} == set(rows)
    assert np.isfinite([r["val_sharpe"] for r in wf if r["val_sharpe"] is not None]).all()


# --- the known edges re-chosen on every fold's val rows ------------------------------------------


def test_trend_baselines_are_chosen_on_each_folds_val_rows():
    data = WFData.from_preset("btc1h", "core17")
    plans = plan_folds(
        data.span("2021-01-01", "2024-01-01"), 2, val_bars=2160, purge_bars=24, embargo_bars=24,
        min_train_bars=9000,
    )  # fmt: skip
    opts = eval_options(CostOverrides())
    fb = fold_baselines(data, plans[1], opts)
    assert set(fb.backtests) == set(BASELINES)
    choice = next(c for c in fb.choices if c.name == "tsmom_long_flat")
    # by hand: every lookback of the grid over the fold's val rows, the best Sharpe wins
    market = data.market(data.fit_normaliser(plans[1].train), 1)
    val = {}
    for days in MOMENTUM_DAYS_GRID:
        spec = trend_spec("tsmom_long_flat", {"lookback_days": days})
        bt = backtest_rows(spec, market, plans[1].val, opts, data.periods_per_year)
        s = bt.summary()["sharpe"]
        val[days] = s if math.isfinite(s) else 0.0
    best = max(MOMENTUM_DAYS_GRID, key=lambda d: (val[d], -MOMENTUM_DAYS_GRID.index(d)))
    assert choice.params["lookback_days"] == best
    test = fb.backtests["tsmom_long_flat"]
    assert test.meta["source"].startswith(f"tsmom_long_flat[lookback_days={best}] chosen on val")
    assert np.array_equal(test.timestamps, fb.backtests["buy_and_hold"].timestamps)
    # every grid point of every known edge is a trial in the ledger, once
    n = record_fold_choices("btc1h", plans[1], fb, opts, data.index)
    assert n == sum(len(c.trials) for c in fb.choices) == 4 + 4 + 2 + 3
    assert record_fold_choices("btc1h", plans[1], fb, opts, data.index) == 0


# --- CPCV as the alternative splitter ------------------------------------------------------------


def test_cpcv_plans_by_hand():
    plans = cpcv_plans((0, 1200), 4, 2, val_bars=50, purge_bars=10, embargo_bars=5)
    assert len(plans) == 6  # C(4, 2)
    s0, s1 = plans[0], plans[1]
    # split 0 tests groups 0 and 1: trains on [600 + 10 + 5, 1200), selects on its last 50 rows
    assert s0.groups == (0, 1) and s0.tests == ((0, 300), (300, 600))
    assert s0.val == (1150, 1200) and s0.train == ((615, 1140),) and s0.holes == ()
    # split 1 tests groups 0 and 2: group 1 purged at both ends, group 2 a hole in training
    assert s1.groups == (0, 2) and s1.val == (1150, 1200)
    assert s1.train == ((315, 590), (915, 1140)) and s1.holes == ((590, 915),)
    with pytest.raises(ValueError, match="too short for the 400-bar selection block"):
        cpcv_plans((0, 1200), 4, 2, val_bars=400, purge_bars=10)


def test_cpcv_paths_match_the_splitters_stitching():
    n_groups, k = 4, 2
    blocks = {}
    returns = {}
    for i, combo in enumerate(itertools.combinations(range(n_groups), k)):
        blocks[i] = {}
        for g in combo:
            r = np.full(5, 0.001 * (10 * i + g + 1))
            eq = np.concatenate([[1.0], np.cumprod(1 + r)])
            ts = (np.arange(5) + 5 * g).astype(np.int64) * 3_600_000_000_000
            z = np.zeros(5)
            blocks[i][g] = Backtest("m", ts, eq, np.ones(5), z, z, z, 8760.0)
            returns[(i, g)] = r
    paths = path_curves(blocks, n_groups, k, "m", {"method": "m"})
    expected = stitch_paths(returns, n_groups, k)
    assert len(paths) == len(expected) == 3
    for bt, r in zip(paths, expected, strict=True):
        np.testing.assert_allclose(bt.returns, r, rtol=1e-12)


def test_cli_cpcv_on_shipped_data(tmp_path):
    out = tmp_path / "wf"
    argv = ["--methods", "momentum", "--cv", "cpcv", "--groups", "4", "--test-groups", "2",
            "--env", "btc1h", "--start", "2022-01-01", "--end", "2024-01-01", "--val-bars",
            "1000", "--n-boot", "100", "--no-plots", "--run-dir", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["context"]["splitter"].endswith("6 splits, 3 paths")
    (row,) = summary["methods"]
    assert row["n_paths"] == 3 and 0.0 <= row["share_paths_beat_buy_and_hold"] <= 1.0
    for k in range(6):
        task = out / f"tasks/momentum/fold{k:02d}/seed0"
        assert len(list(task.glob("test_g*.npz"))) == 2
