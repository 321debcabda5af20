"""agents.tune --objective walkforward: a trial is scored on the walk-forward's inner val
blocks (mean or lower quartile over folds), never on a test block, and lands in the ledger with
its val returns.

The objective by hand; the flags that do not fit refused in one line; the fold plans stay
inside the train+val splits (CPCV too); and a real SQLite study (PPO, 2 trials x 2 folds at the
smallest budget that trains) whose values are recomputed from the val returns it stored, on
exactly the plans' val bars, each in the ledger; a resumed study with another objective is
refused.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from agents.experiments.tune_config import config_from_args
from agents.experiments.tune_folds import check_fold_args, market_data, objective, tune_plans
from backtest.stats import per_period_sharpe
from envs.presets import get_preset
from lab.config import ConfigError
from lab.ledger import ledger_path, read_records
from lab.ledger_returns import load_returns

REPO = Path(__file__).resolve().parent.parent
BASE = ["--env", "btc1h", "--algo", "ppo", "--trials", "2"]
TINY = ["--timesteps", "256", "--n-envs", "2", "--evals-per-trial", "1"]
FOLDS = ["--objective", "walkforward", "--folds", "2", "--val-bars", "500"]


def test_objective_mean_and_lower_quartile_by_hand():
    # 2 seeds x 4 folds; a flat seed (NaN) counts 0: per-fold means 2, 3, 0, 4
    scores = np.array([[1.0, 4.0, math.nan, 6.0], [3.0, 2.0, 0.0, 2.0]])
    assert objective(scores, "mean") == pytest.approx(9 / 4)
    # sorted 0, 2, 3, 4: the 25th percentile lies 3/4 of the way from 0 to 2
    assert objective(scores, "lower-quartile") == pytest.approx(1.5)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--folds", "3"], "--folds is read by --objective walkforward only"),
        (["--objective-stat", "lower-quartile"], "--objective-stat is read by --objective"),
        (["--objective", "walkforward"], "--objective walkforward needs --folds K"),
        (["--objective", "walkforward", "--cv", "cpcv", "--groups", "4"], "--cv cpcv needs"),
        (["--objective", "walkforward", "--folds", "2", "--warm-start", "x.pt"], "--warm-start"),
        (["--objective", "walkforward", "--folds", "400"], "--folds 400"),
    ],
)
def test_flags_that_do_not_fit_are_refused(argv, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(")):
        check_fold_args(config_from_args([*BASE, *argv]))


def test_supervised_is_refused_with_the_walkforward_objective():
    args = config_from_args(["--env", "btc1h", "--algo", "supervised", "--trials", "1",
                             "--objective", "walkforward", "--folds", "2"])  # fmt: skip
    with pytest.raises(ConfigError, match="python -m evaluate.walkforward --methods supervised"):
        check_fold_args(args)


@pytest.mark.parametrize("cv", ["walkforward", "cpcv"])
def test_plans_never_reach_the_test_split(cv):
    test_start = pd.Timestamp(get_preset("btc1h").splits["test"][0], tz="UTC")
    idx = market_data("btc1h", "core17").index
    plans = tune_plans("btc1h", cv, folds=3, groups=4, test_groups=2, val_bars=500,
                       min_train_bars=17520)  # fmt: skip
    assert len(plans) == (3 if cv == "walkforward" else 6)  # C(4, 2) CPCV splits
    for p in plans:
        assert p.val[1] - p.val[0] == 500
        assert idx[p.val[1]] < test_start and idx[max(b for _, b in p.tests or [p.test]) - 1] < (
            test_start
        )
        assert max(b for _, b in p.train) + p.purge_bars <= p.val[0]  # purged before val


def _tune(tmp_path: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "agents.tune", *BASE, "--out", str(tmp_path / "study"), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_a_real_sqlite_study_scores_trials_on_the_folds_val_blocks(tmp_path: Path) -> None:
    proc = _tune(tmp_path, ["--workers", "1", *TINY, *FOLDS])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    storage = f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    study = optuna.load_study(study_name="ppo", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.user_attrs["objective"].startswith("walkforward folds 2, val 500 bars")
    plans = tune_plans("btc1h", "walkforward", folds=2, groups=None, test_groups=None,
                       val_bars=500, min_train_bars=17520)  # fmt: skip
    bars = market_data("btc1h", "core17").index.asi8
    ledger = ledger_path("btc1h", tmp_path / "runs")
    recs = {r["extra"]["trial"]: r for r in read_records("btc1h", tmp_path / "runs")}
    assert sorted(recs) == [0, 1] and {r["source"] for r in recs.values()} == {"tune"}
    for t in study.trials:
        seed_dir = tmp_path / "study" / "trials" / f"t{t.number:04d}" / "s0"
        with np.load(seed_dir / "val_returns.npz") as z:
            returns, stamps = z["returns"], z["timestamps"]
        assert returns.shape == (1000,)
        # exactly the plans' val blocks (a decision at row t is realised over bar t + 1)
        expected = np.concatenate([bars[p.val[0] + 1 : p.val[1] + 1] for p in plans])
        assert np.array_equal(stamps, expected)
        folds = [per_period_sharpe(returns[k * 500 : (k + 1) * 500]) * math.sqrt(8760)
                 for k in range(2)]  # fmt: skip
        assert t.value == pytest.approx(objective(np.array([folds]), "mean"))
        rec = recs[t.number]
        assert rec["val_sharpe"] == pytest.approx(t.value)
        assert rec["extra"]["fold_val_sharpes"] == pytest.approx(folds)
        assert np.array_equal(load_returns(ledger, rec["returns"]), returns)
    # the same study with another objective: refused in one line, nothing run
    again = _tune(tmp_path, ["--workers", "1", *TINY, *FOLDS, "--objective-stat", "lower-quartile"])
    assert again.returncode == 2
    assert "scores trials by 'walkforward folds 2" in again.stderr.strip().splitlines()[-1]
    assert "Traceback" not in again.stderr
    assert len(list(read_records("btc1h", tmp_path / "runs"))) == 2
