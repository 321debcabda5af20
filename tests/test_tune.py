"""agents.tune for real: each algorithm's trials complete on a real SQLite study (tiny budgets),
a study whose trials all fail exits 1 with the first reason, an unknown flag is refused once,
the pages open offline, and Ray says nothing on the terminal.

Every CLI runs as a subprocess with its ledger under ``tmp_path`` (``RLTRADE_RUNS_ROOT``); the
PPO study runs on a local Ray with 2 workers (the README's command at a tiny budget).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from agents.experiments.search import main
from lab.config import ConfigError
from lab.ledger import read_records

REPO = Path(__file__).resolve().parent.parent
SUP_TINY = ["--epochs", "1", "--max-train-samples", "512", "--max-val-bars", "500"]
RL_TINY = ["--timesteps", "256", "--n-envs", "2", "--evals-per-trial", "1"]
pytestmark = pytest.mark.slow


def _tune(tmp_path: Path, algo: str, extra: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "agents.tune", "--env", "btc1h", "--algo", algo]
    cmd += ["--out", str(tmp_path / "study"), *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


def _trials(tmp_path: Path, algo: str) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{tmp_path / 'study' / 'study.db'}"
    return optuna.load_study(study_name=algo, storage=storage).trials


def _only_our_lines(proc: subprocess.CompletedProcess[str]) -> None:
    """Nothing from Ray or Optuna on the terminal: every line is one of tune's own."""
    ours = re.compile(r"^(study |trial \d+: |(history|importance)\.html: )")
    assert [ln for ln in proc.stdout.splitlines() if not ours.match(ln)] == [], proc.stdout
    assert proc.stderr.strip() == "", proc.stderr[-3000:]


def _check_complete(tmp_path: Path, algo: str, seed_sharpe) -> None:  # noqa: ANN001
    """2 COMPLETE trials whose value is their seed's val Sharpe, each in the ledger."""
    trials = _trials(tmp_path, algo)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        run = tmp_path / "study" / "trials" / f"t{t.number:04d}" / "s0"
        expected = seed_sharpe(run)
        assert math.isfinite(t.value)
        assert t.value == pytest.approx(0.0 if expected is None else expected)
    recs = list(read_records("btc1h", tmp_path / "runs"))
    assert sorted(r["extra"]["trial"] for r in recs) == [0, 1]
    assert {r["source"] for r in recs} == {"tune"}
    best = yaml.safe_load((tmp_path / "study" / "best.yml").read_text())
    assert isinstance(best, dict) and best
    for page in ("history.html", "importance.html"):  # offline: plotly.js inline, no CDN
        html = (tmp_path / "study" / page).read_text(encoding="utf-8")
        assert re.search(r"<script[^>]*\bsrc=", html) is None
        assert "plotly.js v" in html or "Plotly" in html
    leaked = [
        p
        for p in (tmp_path / "study").rglob("*")
        if p.suffix in (".txt", ".json", ".yaml", ".yml", ".log")
        and "rltrade-task-" in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert leaked == []  # a worker's temp folder is never named in the landed files


def _rl_sharpe(algo: str):  # noqa: ANN202
    def read(run: Path) -> float | None:
        metrics = json.loads((run / "metrics.json").read_text())
        return metrics["policies"][f"{algo}_best"]["sharpe"]

    return read


def test_ppo_study_on_local_ray_completes_two_trials(tmp_path: Path) -> None:
    proc = _tune(tmp_path, "ppo", ["--trials", "2", "--workers", "2", *RL_TINY])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _check_complete(tmp_path, "ppo", _rl_sharpe("ppo"))
    _only_our_lines(proc)
    assert (tmp_path / "study" / "ray.log").is_file()  # Ray's own lines went there
    best = yaml.safe_load((tmp_path / "study" / "best.yml").read_text())
    assert best["train"] == {"total_timesteps": 256, "eval_freq": 256}
    assert best["env"] == {"n_envs": 2}


def test_sac_study_completes_two_trials(tmp_path: Path) -> None:
    proc = _tune(tmp_path, "sac", ["--trials", "2", "--workers", "1", *RL_TINY])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _check_complete(tmp_path, "sac", _rl_sharpe("sac"))
    _only_our_lines(proc)


def test_supervised_study_completes_two_trials(tmp_path: Path) -> None:
    proc = _tune(tmp_path, "supervised", ["--trials", "2", "--workers", "1", *SUP_TINY])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    def read(run: Path) -> float | None:
        rec = [r for r in read_records("btc1h", tmp_path / "runs") if r["run_dir"] == str(run)]
        return rec[0]["val_sharpe"]

    _check_complete(tmp_path, "supervised", read)
    _only_our_lines(proc)


def test_a_study_whose_trials_all_fail_exits_1_with_the_first_reason(tmp_path: Path) -> None:
    space = tmp_path / "diverge.yml"  # a learning rate that makes every trial's loss NaN
    space.write_text("lr: {type: float, low: 1.0e+8, high: 1.0e+9, log: true}\n")
    proc = _tune(tmp_path, "supervised", ["--trials", "2", "--space", str(space), *SUP_TINY])
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    log = tmp_path / "study" / "trials" / "t0000.failed" / "log.txt"
    assert re.fullmatch(
        r"error: all 2 trial\(s\) failed; the first \(trial 0\): python -m supervised.train: "
        r"error: training diverged at batch \d+: loss is nan; learning rate [0-9.e+]+: lower "
        rf"--lr \(or look for extreme input values\); its log: {re.escape(str(log))}",
        last,
    ), last
    assert "Traceback" not in proc.stderr
    trials = _trials(tmp_path, "supervised")
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]  # exactly --trials, no retries
    assert "training diverged" in trials[0].user_attrs["error"]
    assert "trial 0: FAIL (python -m supervised.train: error: training diverged" in proc.stdout
    assert "training diverged" in (tmp_path / "study" / "trials.csv").read_text()
    assert list(read_records("btc1h", tmp_path / "runs")) == []  # nothing trained, nothing counted


def test_an_unknown_flag_is_refused_once_before_any_trial(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "runs"))
    out = tmp_path / "study"
    argv = ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--out", str(out)]
    with pytest.raises(ConfigError) as err:
        main([*argv, "--bogus", "3"])
    assert str(err.value) == (
        "--bogus: not a flag of agents.tune nor of python -m agents.ppo (its trials' command); "
        "see python -m agents.tune --help and python -m agents.ppo --help"
    )
    assert not out.exists() and not (tmp_path / "runs").exists()
