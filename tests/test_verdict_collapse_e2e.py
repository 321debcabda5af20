"""The main job's policy evaluated on test, when it is always long, says so (issue 23).

A real PPO run is trained by ``agents.ppo.main`` (tiny budget), then its saved weights are made
always long (the action head's bias on BUY, its weights zeroed: the way a collapsed policy looks)
and the run folder goes through ``python -m evaluate`` unchanged: loading, the backtest over the
whole test split, the statistics, the terminal, metrics.json and report.html.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
import torch

from evaluate import cli

pytest.importorskip("stable_baselines3")


def _always_long(run: Path) -> None:
    """Rewrite every saved model of ``run`` so its deterministic action is BUY (index 2)."""
    from stable_baselines3 import PPO

    for name in ("best_model.zip", "final_model.zip"):
        path = run / name
        if not path.is_file():
            continue
        model = PPO.load(path, device="cpu")
        with torch.no_grad():
            model.policy.action_net.weight.zero_()
            model.policy.action_net.bias.copy_(torch.tensor([-20.0, -20.0, 20.0]))
        model.save(path)


@pytest.mark.slow
def test_always_long_main_job_is_named_in_terminal_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import ppo

    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "runs"))
    run = tmp_path / "run"
    ppo.main(["--env", "btc1h", "--timesteps", "128", "--n-envs", "1", "--no-progress",
              "--run-dir", str(run)])  # fmt: skip
    train_out = capsys.readouterr().out
    # the training command ends with its verdict and the next command
    assert "verdict: val 2023-01-01 to 2023-12-31: ppo_best Sharpe" in train_out
    assert f"-m evaluate --env btc1h --split test {run}" in train_out
    _always_long(run)

    out = tmp_path / "eval"
    argv = ["--env", "btc1h", "--split", "test", str(run), "--n-boot", "50", "--no-plots",
            "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    ppo_row, bh = m["policies"]["ppo_s0"], m["policies"]["buy_and_hold"]
    assert ppo_row["constant_position"] == 1.0 and ppo_row["exposure"] == 1.0
    assert ppo_row["sharpe"] == pytest.approx(bh["sharpe"])  # the same positions: the same bars
    agg = m["seed_aggregates"]["ppo"]
    assert agg["collapsed"] == [True] and agg["n_collapsed"] == 1
    assert agg["collapses"] == ["always long: identical to buy-and-hold"]
    assert agg["sharpes"][0] == pytest.approx(bh["sharpe"])  # a real Sharpe, not zeroed
    verdict = agg["verdict"]
    assert verdict.startswith("PPO (1 seed) on test 2024-01-01 to 2024-12-31: Sharpe ")
    assert "ties buy-and-hold" in verdict
    assert "COLLAPSED: always long: identical to buy-and-hold" in verdict
    assert re.search(
        r"; DSR \d\.\d{3} [<=>] 0\.95 after \d+ trials?: (not )?significant\.$", verdict
    )
    # the terminal: the table's collapse line and the verdict
    assert "COLLAPSED: ppo_s0 is always long: identical to buy-and-hold" in text
    assert verdict in text
    page = (out / "report.html").read_text()
    assert '<p class="verdict collapsed">' + html.escape(verdict) in page  # marked red
    # the Setting table shows the run's own configuration, not the env defaults
    assert agg and m["context"]["runs"]["ppo_s0"]["feature set"] == "flagtrader60"
    assert m["context"]["runs"]["ppo_s0"]["observation window (bars)"] == "16"
    assert "window" not in m["context"]["costs"]
