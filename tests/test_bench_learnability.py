"""bench/learnability.py: the summary arithmetic (fraction of the oracle, collapsed seeds)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "learnability.py"
_spec = importlib.util.spec_from_file_location("learnability", _PATH)
learnability = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(learnability)


def _row(method, sharpe, turnover, **kw):
    return {"method": method, "sharpe": sharpe, "turnover_annual": turnover, **kw}


def test_summary_fraction_spread_and_collapse():
    test = {
        "oracle_filter": _row("oracle_filter", 4.0, 70.0),
        "oracle_hidden": _row("oracle_hidden", 8.0, 40.0),
        "ppo_s0": _row("ppo", 3.0, 300.0),
        "ppo_s1": _row("ppo", 1.0, 5.0),  # near-constant: < 7 = a tenth of the oracle's turnover
        "ppo_s2": _row("ppo", float("nan"), 0.0),  # always flat: Sharpe undefined -> 0
    }
    (row,) = learnability.summarise("synth-regime", ["ppo", "sac"], test)
    assert row["sharpes"] == [3.0, 1.0, 0.0] and row["mean"] == pytest.approx(4 / 3)
    assert row["frac_oracle"] == pytest.approx(1 / 3) and row["frac_hidden"] == pytest.approx(1 / 6)
    assert row["sd"] == pytest.approx(1.5275252316519468) and row["collapsed"] == 2


def test_rw_selection_is_on_val_and_reports_test_dsr():
    val = {"ppo_s0": _row("ppo", 0.5, 10.0), "ppo_s1": _row("ppo", 1.5, 10.0)}
    test = {"ppo_s0": _row("ppo", 2.0, 10.0, dsr=0.9), "ppo_s1": _row("ppo", -0.3, 10.0, dsr=0.1)}
    (sel,) = learnability.rw_selected(["ppo"], val, test)
    assert sel["selected"] == "ppo_s1" and sel["test_sharpe"] == -0.3 and sel["test_dsr"] == 0.1


def test_train_commands_use_the_project_clis(tmp_path):
    args = learnability.parse_args(["--timesteps", "5000", "--sup-epochs", "2"])
    ppo = learnability.train_command("ppo", "synth-rw", 3, tmp_path, args)
    assert ppo[1:] == ["-m", "agents.ppo", "--env", "synth-rw", "--seed", "3", "--run-dir",
                       str(tmp_path), "--no-progress", "--timesteps", "5000"]  # fmt: skip
    sup = learnability.train_command("supervised", "synth-rw", 0, tmp_path, args)
    assert sup[1:3] == ["-m", "supervised.train"] and sup[-2:] == ["--epochs", "2"]
