"""The learner table (``agents.learners``): every entry complete; refusals carry a reason."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest

from agents.algorithms import ALGOS
from agents.learners import (
    LEARNERS,
    ORCHESTRATORS,
    kind_of_run,
    learner,
    read_trees_metrics,
    require,
    supporting,
)
from lab.config import ConfigError


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_every_learner_entry_is_complete(name: str) -> None:
    entry = LEARNERS[name]
    assert entry.name == name and entry.family in ("rl", "supervised", "trees")
    assert callable(entry.train) and list(inspect.signature(entry.train).parameters)[:1]
    assert dataclasses.is_dataclass(entry.config)
    assert entry.run_markers and all(isinstance(m, str) and m for m in entry.run_markers)
    assert entry.val_metrics(Path("/nonexistent/run")) is None  # unfinished: no metric
    assert set(entry.refused) <= set(ORCHESTRATORS)
    assert all(len(why) > 20 for why in entry.refused.values()), "a refusal says why"
    assert (entry.family == "rl") == (entry.algo is not None)
    assert entry.algo is None or entry.algo in ALGOS


def test_every_rl_algorithm_is_a_learner() -> None:
    assert set(ALGOS) <= set(LEARNERS)


def test_a_refused_orchestrator_says_why_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^seed_group does not support trees: .*no --seeds"):
        require("trees", "seed_group")
    with pytest.raises(ConfigError, match="unknown learner 'a3c'; valid: ppo, sac"):
        learner("a3c")
    assert require("ppo", "walkforward").name == "ppo"
    assert "trees" not in supporting("tune") and "ppo" in supporting("tune")
    with pytest.raises(KeyError, match="unknown orchestrator"):
        LEARNERS["ppo"].supports("deploy")


def test_run_markers_recognise_each_kind(tmp_path: Path) -> None:
    rl = tmp_path / "rl"
    rl.mkdir()
    (rl / "config.yaml").write_text("algo: sac\nenv_name: btc1h\n")
    (rl / "best_model.zip").write_bytes(b"")
    trees = tmp_path / "trees"
    trees.mkdir()
    for name in ("tree.json", "model.skops"):
        (trees / name).write_text("{}")
    sup = tmp_path / "sup"
    sup.mkdir()
    (sup / "model.pt").write_bytes(b"")
    found = {d.name: getattr(kind_of_run(d), "name", None) for d in (rl, trees, sup, tmp_path)}
    assert found == {"rl": "sac", "trees": "trees", "sup": "supervised", tmp_path.name: None}


def test_trees_val_metrics_read_the_runner_backtest(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text('{"val_backtest": {"sharpe": 0.5, "n_trades": 0}}')
    assert read_trees_metrics(tmp_path) == {
        "val_sharpe": 0.5,
        "turnover": None,
        "n_trades": 0,
        "collapsed": True,
    }
