"""bench/lora_compare.py: the per-arm summary (val Sharpe, spread, collapsed seeds) and the
commands each arm runs."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent.parent / "bench" / "lora_compare.py"
_spec = importlib.util.spec_from_file_location("lora_compare", _PATH)
lora_compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lora_compare)


def _run(tmp_path, name, sharpe, turnover, time_in_market):
    run = tmp_path / name
    run.mkdir()
    best = {"sharpe": sharpe, "turnover_annual": turnover, "time_in_market": time_in_market}
    (run / "metrics.json").write_text(
        json.dumps({"num_timesteps": 100, "policies": {"ppo_best": best}})
    )
    return run


def test_summary_counts_flat_and_constant_positions_as_collapsed(tmp_path):
    runs = [
        _run(tmp_path, "s0", 1.5, 60.0, 0.7),
        _run(tmp_path, "s1", 2.2, 1.0, 1.0),  # always long: turnover 1 a year
        _run(tmp_path, "s2", None, 0.0, 0.0),  # always flat: no Sharpe -> 0
    ]
    row = lora_compare.summarise("btc1h", "pretrained", runs)
    assert row["val_sharpes"] == [1.5, 2.2, 0.0]
    assert row["mean"] == pytest.approx(3.7 / 3)
    assert row["sd"] == pytest.approx(1.1240, abs=1e-4)  # sqrt(2.5267 / 2)
    assert row["collapsed"] == 2 and row["n_seeds"] == 3


def test_arms_use_the_main_jobs_layout(tmp_path):
    args = lora_compare.parse_args(["--timesteps", "4096", "--out", str(tmp_path)])
    sup = lora_compare._supervised("btc1h", 3, tmp_path / "sup", args)
    assert sup[sup.index("--feature-set") + 1] == "flagtrader60"
    assert sup[sup.index("--window") + 1] == "16" and sup[sup.index("--seed") + 1] == "3"
    ppo = lora_compare._ppo("btc1h", 3, tmp_path / "run", args)
    assert ppo[2:4] == ["agents.ppo", "--env"] and ppo[-2:] == ["--timesteps", "4096"]


def test_runs_of_another_budget_are_not_reused(tmp_path):
    lora_compare.check_budget(
        lora_compare.parse_args(["--timesteps", "4096", "--out", str(tmp_path)])
    )
    with pytest.raises(SystemExit, match="another budget"):
        lora_compare.check_budget(lora_compare.parse_args(["--out", str(tmp_path)]))
