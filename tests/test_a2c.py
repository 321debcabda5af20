"""A2C, added as one entry of ``agents.algorithms`` plus ``agents/configs/a2c.yml``: it trains
through the generic entry point, loads without unpickling, evaluates and is a learner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.__main__ import main
from agents.acting.loading import load_run
from agents.algorithms import ALGOS
from agents.learners import LEARNERS
from backtest.runner import run_policy
from lab.config import ConfigError


def test_tiny_a2c_run_trains_loads_and_evaluates(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLTRADE_NO_LEDGER", "1")
    run = tmp_path / "a2c"
    cfg = tmp_path / "tiny.yml"
    cfg.write_text(yaml.safe_dump({"train": {"eval_freq": 10**6, "checkpoint_freq": 10**6}}))
    args = ["a2c", "--env", "btc1h", "--timesteps", "256", "--n-envs", "2", "--seed", "1"]
    assert main([*args, "--config", str(cfg), "--run-dir", str(run), "--no-progress"]) == run
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["algo"] == "a2c" and config["a2c"]["n_steps"] == 32  # the YAML's default
    assert "-m agents a2c --env btc1h" in (run / "command.txt").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["num_timesteps"] >= 256 and "a2c_final" in metrics["policies"]
    spec = load_run(run)  # safe load: every pickled entry rebuilt from config.yaml
    assert spec.method == "a2c" and spec.seed == 1
    bt = run_policy(spec, "btc1h", "val")
    assert bt.summary()["sharpe"] == pytest.approx(metrics["policies"]["a2c_best"]["sharpe"])
    assert np.isfinite(bt.summary()["total_return"])
    assert LEARNERS["a2c"].val_metrics(run)["val_sharpe"] == pytest.approx(
        metrics["policies"]["a2c_best"]["sharpe"]
    )


def test_the_generic_entry_point_names_the_algorithms() -> None:
    names = ", ".join(ALGOS)  # ppo, sac, a2c, tqc, ...: the table's entries
    with pytest.raises(ConfigError, match=rf"must be an algorithm \({names}\), got 'ddpg'"):
        main(["ddpg", "--env", "btc1h"])
