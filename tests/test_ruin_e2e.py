"""A ruined account is a result, not a crash: a 5000 bps fee trains, backtests val to -100 %,
writes metrics.json and exits 0 (issue 12: it used to die in the val backtest)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_ppo_with_ruinous_fee_writes_metrics_and_exits_0(tmp_path: Path) -> None:
    cfg = tmp_path / "ruin.yml"
    cfg.write_text("env:\n  fee_bps: 5000\n")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "agents.ppo", "--env", "btc1h", "--timesteps", "128",
           "--n-envs", "1", "--no-progress", "--config", str(cfg), "--run-dir", str(run)]  # fmt: skip
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    m = json.loads((run / "metrics.json").read_text())
    final = m["policies"]["ppo_final"]
    assert final["ruined"] == 1.0 and final["total_return"] == -1.0
    assert final["max_drawdown"] == 1.0
