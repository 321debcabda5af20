"""Walk-forward: stitching by hand, fold plans (purge/embargo/val), causality, end to end.

Unit tests use synthetic candles (conftest); the CLI test on the shipped data and the tiny real
PPO fold are marked slow.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest.folds import WFData, env_split, mask_rows, plan_folds
from backtest.record import Backtest
from backtest.stats import deflated_sharpe_ratio, per_period_sharpe
from envs import TradingEnv
from evaluate.stitch import stitch
from evaluate.walkforward import run_walkforward
from evaluate.walkforward.learners import MOMENTUM_GRID

H = 3_600_000_000_000  # one hour in ns


def _bt(name, t0, equity, fees, ruined=None, segs=(0,)):
    n = len(equity) - 1
    return Backtest(
        name,
        np.arange(t0, t0 + n, dtype=np.int64) * H,
        np.asarray(equity, float),
        np.ones(n),
        np.asarray(fees, float),
        np.zeros(n),
        np.zeros(n),
        8760.0,
        np.asarray(segs, dtype=np.int64),
        {"ruined_at": ruined},
    )


# --- stitching ----------------------------------------------------------------------------------


def test_stitch_by_hand():
    a = _bt("p", 0, [1.0, 1.1, 1.21], [0.001, 0.0])
    b = _bt("p", 2, [1.0, 0.9, 0.99, 1.089], [0.002, 0.0, 0.001], segs=(0, 2))
    s = stitch([a, b], "p")
    # fold b continues from 1.21: 1.21 * 0.9, 1.21 * 0.99, 1.21 * 1.089
    np.testing.assert_allclose(s.equity, [1.0, 1.1, 1.21, 1.089, 1.1979, 1.31769], rtol=1e-12)
    np.testing.assert_allclose(s.fees, [0.001, 0.0, 0.00242, 0.0, 0.00121], rtol=1e-12)
    np.testing.assert_allclose(s.returns, np.concatenate([a.returns, b.returns]), rtol=1e-12)
    np.testing.assert_array_equal(s.segment_starts, [0, 2, 4])
    assert s.meta["fold_starts"] == [0, 2] and s.meta["n_folds"] == 2
    assert s.equity[-1] == pytest.approx(a.equity[-1] * b.equity[-1], rel=1e-12)


def test_stitch_ruin_is_permanent_and_order_is_checked():
    a = _bt("p", 0, [1.0, 0.5, 0.005], [0.0, 0.0], ruined=H)
    b = _bt("p", 2, [1.0, 2.0, 4.0], [0.01, 0.0])
    s = stitch([a, b], "p")
    np.testing.assert_allclose(s.equity, [1.0, 0.5, 0.005, 0.005, 0.005])
    np.testing.assert_array_equal(s.positions, [1, 1, 0, 0])
    assert s.fees[2:].sum() == 0 and s.meta["ruined_at"] == H
    with pytest.raises(ValueError, match="fold 1 starts at or before"):
        stitch([a, _bt("p", 1, [1.0, 1.0], [0.0])], "p")
    with pytest.raises(ValueError, match="no fold backtests"):
        stitch([], "p")


# --- fold plans ---------------------------------------------------------------------------------


def test_plan_folds_by_hand():
    plans = plan_folds((100, 1100), 3, val_bars=100, purge_bars=10, embargo_bars=5)
    # walk_forward_folds(1000, 3, min_train=2*100+10, purge=10): test_bars (1000-210-10)//3 = 260,
    # relative test starts 220, 480, 740; + span start 100
    assert [p.test for p in plans] == [(320, 580), (580, 840), (840, 1100)]
    p0, p2 = plans[0], plans[2]
    assert p0.val == (210, 310) and p0.train == ((100, 200),) and p0.holes == ()
    # fold 2: information set [100, 830) minus the embargo after test block 0: [580, 585)
    assert p2.holes == ((580, 585),)
    assert p2.val == (730, 830)
    assert p2.train == ((100, 580), (585, 720))  # val start 730 - purge 10
    assert p2.n_train == 480 + 135
    # the information set must hold train + purge + val: 2 * 100 + 10 rows before test block 0
    with pytest.raises(
        ValueError, match=r"fold 0 \(test rows \[100, 300\)\) keeps 90 training rows"
    ):
        plan_folds((0, 500), 2, val_bars=100, purge_bars=10, test_bars=200)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2000, 6000),
    k=st.integers(1, 5),
    val=st.integers(50, 300),
    purge=st.integers(0, 48),
    embargo=st.integers(0, 48),
    lo=st.integers(0, 500),
)
def test_plans_never_train_on_the_future(n, k, val, purge, embargo, lo):
    try:
        plans = plan_folds((lo, lo + n), k, val_bars=val, purge_bars=purge, embargo_bars=embargo)
    except ValueError:
        return
    for j, p in enumerate(plans):
        s, e = p.test
        assert p.train[-1][1] <= p.val[0] - purge  # training ends a purge before val
        assert p.val[1] <= s - purge  # val ends a purge before the test block
        assert all(a < b for a, b in p.train) and p.train[0][0] == lo
        for h0, h1 in p.holes:  # embargoed rows hold no training row
            assert all(b <= h0 or a >= h1 for a, b in p.train)
        if j:
            assert s == plans[j - 1].test[1]  # test blocks tile the end of the span
    assert plans[-1].test[1] == lo + n


def test_mask_rows_and_env_split(make_candles):
    data = _data(make_candles(1200, seed=1))
    market = data.market(data.fit_normaliser(((0, 1200),)), 16)
    masked = mask_rows(market, ((600, 610),))
    env = TradingEnv(masked, env_split((300, 900), market.n_bars))
    ok = env.tables.step_ok
    assert not ok[599:610].any() and ok[598] and ok[610]  # 599 would hold bar 600
    assert env_split((300, 900), 1200) == (300, 901) and env_split((300, 1200), 1200) == (300, 1200)
    assert ok[899] and not ok[900]  # last decision row 899 holds bar 900


# --- end to end on synthetic data ---------------------------------------------------------------


def _data(candles) -> WFData:
    from envs.features import compute_features

    return WFData("btc1h", candles, compute_features(candles, "core17"), None, "core17")


def _run(data, tmp_path, **kw):
    plans = plan_folds(
        (0, data.n_rows), 3, val_bars=300, purge_bars=24, embargo_bars=24, min_train_bars=900
    )
    return plans, run_walkforward(data, plans, "momentum", tmp_path, window=16, n_boot=50, **kw)


def test_momentum_walkforward_end_to_end(make_candles, tmp_path):
    data = _data(make_candles(3000, seed=21))
    plans, wf = _run(data, tmp_path)
    cand = wf.stitched[0]
    assert cand.name == "wf_momentum" and [b.name for b in wf.stitched] == [
        "wf_momentum",
        "buy_and_hold",
        "flat",
        "momentum",
        "tsmom_long_flat",
        "tsmom_long_short",
        "trend_ensemble",
        "vol_target",
    ]
    parts = [f.backtests["wf_momentum"] for f in wf.folds]
    np.testing.assert_allclose(
        cand.returns, np.concatenate([p.returns for p in parts]), rtol=1e-9, atol=1e-15
    )
    assert cand.equity[-1] == pytest.approx(np.prod([p.equity[-1] for p in parts]), rel=1e-12)
    for plan, part in zip(plans, parts, strict=True):
        held = np.searchsorted(data.index.as_unit("ns").asi8, part.timestamps)
        assert held.min() >= plan.test[0] + 1 and held.max() == min(plan.test[1], data.n_rows - 1)
        assert (
            plan.train[-1][1] <= plan.test[0] - 2 * 24 - 300
        )  # train | purge | val | purge | test
    np.testing.assert_array_equal(np.diff(cand.timestamps) > 0, True)
    # selection: the lookback with the best val Sharpe, recomputed from the saved numbers
    for f in wf.folds:
        val = {int(k): v for k, v in f.selection["val_sharpe"].items()}
        assert f.selection["lookback"] == max(MOMENTUM_GRID, key=lambda lb: (val[lb], -lb))
        assert (
            json.loads((tmp_path / f"fold_{f.plan.index:02d}" / "selection.json").read_text())[
                "lookback"
            ]
            == f.selection["lookback"]
        )
    # deflated Sharpe: n_trials = 3 folds x 4 lookbacks, variance of the 12 trial Sharpes
    trials = np.array([s for f in wf.folds for s in f.trial_sharpes.values()])
    assert wf.n_trials == 12 and trials.size == 12
    assert wf.trials_sharpe_var == pytest.approx(np.var(trials, ddof=1), rel=1e-12)
    lb = wf.folds[0].selection["lookback"]
    assert wf.folds[0].trial_sharpes[f"momentum_{lb}"] == pytest.approx(
        per_period_sharpe(parts[0].returns)
    )
    row = wf.comparison.row("wf_momentum")
    assert row.dsr == pytest.approx(
        deflated_sharpe_ratio(cand.returns, n_trials=12, trials_sharpe_var=np.var(trials, ddof=1))
    )
    assert math.isfinite(row.dsr)


def test_fold_selection_ignores_the_future(make_candles, tmp_path):
    """Changing every price after fold 0's val block leaves fold 0's normaliser and choice alone."""
    c = make_candles(3000, seed=22)
    plans = plan_folds(
        (0, 3000), 3, val_bars=300, purge_bars=24, embargo_bars=24, min_train_bars=900
    )
    cut = plans[0].val[1] + 1  # the last val decision row holds bar val[1]
    future = c.copy()
    future.iloc[cut:, :4] *= np.exp(np.linspace(0, 0.5, len(c) - cut))[:, None]
    a = _data(c)
    b = _data(future)
    na, nb = a.fit_normaliser(plans[0].train), b.fit_normaliser(plans[0].train)
    np.testing.assert_array_equal(na.center, nb.center)
    _, wa = _run(a, tmp_path / "a")
    _, wb = _run(b, tmp_path / "b")
    assert wa.folds[0].selection == wb.folds[0].selection
    assert (
        wa.folds[2].backtests["buy_and_hold"].equity[-1]
        != wb.folds[2].backtests["buy_and_hold"].equity[-1]
    )


# --- slow: a tiny real PPO fold, the CLI on the shipped data -----------------------------------


@pytest.mark.slow
def test_tiny_ppo_walkforward(make_candles, tmp_path):
    pytest.importorskip("stable_baselines3")
    cfg = tmp_path / "tiny.yml"
    cfg.write_text(
        "env: {n_envs: 2, episode_length: 64}\nppo: {n_steps: 32, batch_size: 32, n_epochs: 1}\n"
        "train: {eval_freq: 1000000, n_eval_episodes: 1, checkpoint_freq: 1000000, torch_threads: 1}\n"
    )
    data = _data(make_candles(2400, seed=23))
    plans = plan_folds(
        (0, 2400), 2, val_bars=200, purge_bars=24, embargo_bars=24, min_train_bars=900
    )
    wf = run_walkforward(
        data, plans[1:], "ppo", tmp_path / "wf", window=16, n_boot=20, timesteps=64, config=cfg
    )
    fold_dir = tmp_path / "wf" / "fold_01"
    for name in (
        "best_model.zip",
        "final_model.zip",
        "normaliser.json",
        "config.yaml",
        "meta.json",
    ):
        assert (fold_dir / name).is_file(), name
    bt = wf.folds[0].backtests["wf_ppo"]
    assert len(bt) == len(wf.folds[0].backtests["buy_and_hold"]) > 0
    assert wf.folds[0].selection["num_timesteps"] == 64 and wf.n_trials == 1


@pytest.mark.slow
def test_tiny_supervised_walkforward(make_candles, tmp_path):
    pytest.importorskip("torch")
    data = _data(make_candles(2400, seed=24))
    plans = plan_folds(
        (0, 2400), 2, val_bars=200, purge_bars=24, embargo_bars=24, min_train_bars=900
    )
    wf = run_walkforward(
        data,
        plans[1:],
        "supervised",
        tmp_path / "wf",
        window=16,
        n_boot=20,
        epochs=1,
        max_train_samples=300,
    )
    fold_dir = tmp_path / "wf" / "fold_01"
    payload = json.loads((fold_dir / "normaliser.json").read_text())
    # the checkpoint's normaliser is the fold's, fitted on the fold's training rows only
    fold_norm = data.fit_normaliser(plans[1].train)
    np.testing.assert_allclose(payload["center"], fold_norm.center)
    assert wf.folds[0].selection["n_train_samples"] == 300 and (fold_dir / "model.pt").is_file()
    assert len(wf.folds[0].backtests["wf_supervised"]) == len(wf.folds[0].backtests["flat"])
    # the decision rule's val grid counts as configurations in the deflated Sharpe
    grid = wf.folds[0].selection["rule_grid_points"]
    assert grid >= 1 and wf.n_trials == 1 * grid


@pytest.mark.slow
def test_tiny_trees_walkforward(make_candles, tmp_path):
    data = _data(make_candles(2400, seed=24))
    plans = plan_folds(
        (0, 2400), 2, val_bars=200, purge_bars=24, embargo_bars=24, min_train_bars=900
    )
    cfg = tmp_path / "trees.yml"
    cfg.write_text(
        "trees: {n_estimators: 4, max_depth: 3, min_samples_leaf: 10, hgb_max_iter: 4, "
        "gb_n_estimators: 4, n_jobs: 1}\n"
    )
    wf = run_walkforward(
        data, plans[1:], "trees", tmp_path / "wf", window=16, n_boot=20, config=cfg
    )
    fold_dir = tmp_path / "wf" / "fold_01"
    info = json.loads((fold_dir / "tree.json").read_text())
    assert info["sizes"]["n_estimators"] == 4 and (fold_dir / "model.skops").is_file()
    # the fold's model uses the fold's normaliser (fitted on its training rows only)
    payload = json.loads((fold_dir / "normaliser.json").read_text())
    np.testing.assert_allclose(payload["center"], data.fit_normaliser(plans[1].train).center)
    sel = wf.folds[0].selection
    assert sel["n_train_samples"] > 0 and sel["rule_grid_points"] >= 1
    assert len(wf.folds[0].backtests["wf_trees"]) == len(wf.folds[0].backtests["flat"])
    assert wf.n_trials == sel["rule_grid_points"]


@pytest.mark.slow
def test_cli_momentum_on_shipped_data(tmp_path):
    from evaluate.walkforward import main

    out = tmp_path / "wf"
    assert (
        main(
            [
                "--env",
                "btc1h",
                "--algo",
                "momentum",
                "--folds",
                "3",
                "--start",
                "2022-01-01",
                "--end",
                "2024-01-01",
                "--min-train-bars",
                "6000",
                "--out",
                str(out),
                "--n-boot",
                "100",
            ]
        )
        == 0
    )
    for name in ("summary.json", "methods.csv", "folds.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "summary.json").read_text())
    (method,) = data["methods"]  # --algo is an alias of --methods
    assert method["method"] == "momentum" and method["n_trials"] == 12
    assert len(data["folds"]) == 3 and data["folds"][2]["test_to"] == "2024-01-01"
    assert {"buy_and_hold", "flat", "momentum"} <= set(data["baseline_sharpes"])


def test_backtest_rows_holds_a_k_bar_policy_for_k_bars(make_candles):
    """A policy trained with decision_interval=k (its spec's env settings) is asked for an action
    every k bars of the fold's test rows, as ``backtest.runner.run_policy`` does."""
    from backtest.baselines import PolicySpec
    from evaluate.walkforward import backtest_rows

    class Counting:
        def __init__(self) -> None:
            self.bars: list[int] = []

        def bind(self, market, action_space) -> None:  # noqa: ANN001
            pass

        def act(self, obs, bars):  # noqa: ANN001, ANN201
            self.bars.append(int(bars[0]))
            return np.array([2 if len(self.bars) % 2 else 0])

    data = _data(make_candles(1200, seed=1))
    market = data.market(data.fit_normaliser(((0, 1200),)), 16)
    pol = Counting()
    spec = PolicySpec("k4", "k4", pol, 0, {"decision_interval": 4})
    bt = backtest_rows(spec, market, (300, 340), {"max_drawdown": None}, 8760.0)
    assert len(bt) == 40 and pol.bars == list(range(300, 340, 4))
    assert np.all(bt.positions[:4] == 1.0) and np.all(bt.positions[4:8] == -1.0)
