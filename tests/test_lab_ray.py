"""The experiment engine for real: a local Ray, a two-node Ray cluster, killed drivers.

Tiny budgets (a 256-step PPO, a 1-epoch supervised classifier on 512 samples); every CLI runs
as a subprocess with its ledger under ``tmp_path`` (``RLTRADE_RUNS_ROOT``). The two-node cluster
is ``ray.cluster_utils.Cluster`` (two raylets with their own node ids, what ``ray start --head``
plus ``ray start --address`` make): it is torn down by stopping exactly the processes it
started, where ``ray stop`` would stop every Ray process on the shared machine.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from agents.experiments.tune_trial import snapshot_trial
from lab.ledger import read_records, trial_summary
from lab.ray_connect import auth_env, set_auth_mode

REPO = Path(__file__).resolve().parent.parent
SUP_TINY = ["--epochs", "1", "--max-train-samples", "512", "--max-val-bars", "500"]
pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp_path / "runs"), "PYTHONPATH": str(REPO)}


def _run(args: list[str], tmp_path: Path, timeout: int = 400) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    """An inline driver to kill: its task's temp folder (left by the kill) stays in tmp_path."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env={**_env(tmp_path), "TMPDIR": str(tmp_path / "tmp")},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_for(cond, proc: subprocess.Popen, timeout_s: float = 300) -> None:  # noqa: ANN001
    t0 = time.monotonic()
    while not cond():
        assert proc.poll() is None, "the driver ended before the condition held"
        assert time.monotonic() - t0 < timeout_s, "condition never held"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def two_node_cluster():
    from ray.cluster_utils import Cluster

    # the authentication mode the lab's drivers use for a new local Ray (token), set here too:
    # the nodes must check tokens as the tune driver sends them, whichever test ran before
    set_auth_mode(auth_env(None))
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        yield cluster.address
    finally:
        cluster.shutdown()


def test_ppo_seed_group_on_local_ray(tmp_path: Path) -> None:
    group = tmp_path / "group"
    out = _run(
        ["agents.ppo", "--env", "btc1h", "--seeds", "0", "1", "--workers", "2"]
        + ["--timesteps", "256", "--n-envs", "2", "--run-dir", str(group)],
        tmp_path,
    )
    gj = json.loads((group / "group.json").read_text())
    assert (gj["kind"], gj["algo"], gj["seeds"], gj["runs"]) == (
        "seed_group",
        "ppo",
        [0, 1],
        {"0": "s0", "1": "s1"},
    )
    for s in (0, 1):
        m = json.loads((group / f"s{s}" / "metrics.json").read_text())
        assert m["seed"] == s and "ppo_best" in m["policies"]
    summary = json.loads((group / "summary.json").read_text())
    sharpes = [summary["per_seed"][s]["val_sharpe"] for s in ("0", "1")]
    assert summary["aggregate"]["n_ok"] == 2 and summary["failures"] == []
    assert summary["aggregate"]["worst"] == pytest.approx(min(x or 0.0 for x in sharpes))
    recs = list(read_records("btc1h", tmp_path / "runs"))
    assert sorted(r["seed"] for r in recs) == [0, 1]
    assert {r["source"] for r in recs} == {"seed_group"}
    assert trial_summary("btc1h", tmp_path / "runs").n_trials == 1  # two seeds, one config
    assert "2/2 seeds" in out
    # the group ends with its verdict against buy-and-hold and the next command
    assert "verdict: val 2023-01-01 to 2023-12-31: PPO (2 of 2 seeds) mean Sharpe " in out
    assert out.rstrip().endswith(f"-m evaluate --env btc1h --split test {group}")


def test_killed_group_driver_restarts_and_skips_the_finished_seed(tmp_path: Path) -> None:
    group = tmp_path / "group"
    cmd = ["supervised.train", "--env", "btc1h", "--seeds", "0", "1", "--workers", "1"]
    cmd += [*SUP_TINY, "--run-dir", str(group)]
    proc = _start(cmd, tmp_path)
    try:
        _wait_for(lambda: (group / "s0" / "metrics.json").is_file(), proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (group / "s1" / "metrics.json").is_file()
    s0_inode = (group / "s0" / "metrics.json").stat().st_ino
    out = _run(cmd, tmp_path)
    assert "seed 0: already finished" in out and "1 to train, 1 finished" in out
    assert (group / "s0" / "metrics.json").stat().st_ino == s0_inode  # untouched
    assert json.loads((group / "summary.json").read_text())["aggregate"]["n_ok"] == 2
    recs = list(read_records("btc1h", tmp_path / "runs"))
    assert sorted(r["seed"] for r in recs) == [0, 1]  # each seed once, none twice


def _tune(study: Path) -> list[str]:
    return ["agents.tune", "--env", "btc1h", "--algo", "supervised", "--out", str(study)]


def test_tune_on_a_two_node_cluster_uses_both_nodes(two_node_cluster: str, tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    cmd = _tune(study_dir) + ["--trials", "2", "--workers", "2", *SUP_TINY]
    _run([*cmd, "--address", two_node_cluster], tmp_path)
    study = optuna.load_study(study_name="supervised", storage=f"sqlite:///{study_dir}/study.db")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    assert len({t.user_attrs["node_id"] for t in done}) == 2  # one trial on each node
    recs = list(read_records("btc1h", tmp_path / "runs"))
    assert {r["extra"]["node_id"] for r in recs} == {t.user_attrs["node_id"] for t in done}
    assert {r["source"] for r in recs} == {"tune"}
    for f in ("best.yml", "trials.csv", "trials.md", "history.html"):
        assert (study_dir / f).is_file(), f
    assert (study_dir / "trials" / "t0000" / "s0" / "model.pt").is_file()  # landed on the driver


def test_killed_tune_resumes_without_redoing_finished_trials(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    cmd = _tune(study_dir) + ["--trials", "2", "--workers", "1", *SUP_TINY]
    proc = _start(cmd, tmp_path)
    storage = f"sqlite:///{study_dir}/study.db"

    def first_complete() -> bool:
        # the ledger line comes just before the tell: the schema exists by then
        if not (tmp_path / "runs" / "btc1h" / "ledger.jsonl").is_file():
            return False
        s = optuna.load_study(study_name="supervised", storage=storage)
        return any(t.state == optuna.trial.TrialState.COMPLETE for t in s.trials)

    try:
        _wait_for(first_complete, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    before = optuna.load_study(study_name="supervised", storage=storage).trials
    t0_done = before[0].datetime_complete
    out = _run(cmd, tmp_path)
    assert "1 finished, 1 to run" in out
    after = optuna.load_study(study_name="supervised", storage=storage).trials
    assert after[0].state == optuna.trial.TrialState.COMPLETE
    assert after[0].datetime_complete == t0_done  # not redone
    states = [t.state for t in after]
    assert states.count(optuna.trial.TrialState.COMPLETE) == 2
    if len(before) > 1:  # the killed trial is kept, honestly marked failed
        assert after[1].state == optuna.trial.TrialState.FAIL
    trials = [r["extra"]["trial"] for r in read_records("btc1h", tmp_path / "runs")]
    assert sorted(trials) == sorted(t.number for t in after if t.state.name == "COMPLETE")


def test_pruner_snapshot_prunes_a_trial_trailing_the_finished_ones() -> None:
    history = [{"value": v, "intermediate": {100: v, 200: v}} for v in (1.0, 2.0, 3.0)]
    live = snapshot_trial(history, "median")
    live.report(0.5, 100)
    assert live.should_prune()
    good = snapshot_trial(history, "median")
    good.report(2.5, 100)
    assert not good.should_prune()
    assert not snapshot_trial(history, "none").should_prune()


def test_walkforward_folds_on_local_ray_match_inline(tmp_path: Path) -> None:
    from evaluate.walkforward import main

    base = ["--env", "btc1h", "--algo", "momentum", "--folds", "3", "--start", "2022-01-01"]
    base += ["--end", "2024-01-01", "--min-train-bars", "6000", "--n-boot", "100", "--no-plots"]
    assert main([*base, "--out", str(tmp_path / "inline")]) == 0
    _run(
        ["evaluate.walkforward", *base, "--workers", "2", "--out", str(tmp_path / "ray")], tmp_path
    )
    inline = json.loads((tmp_path / "inline" / "summary.json").read_text())
    on_ray = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert on_ray["methods"] == inline["methods"]  # same folds, same numbers
    assert on_ray["folds"] == inline["folds"] and on_ray["methods"][0]["n_trials"] == 12
    for k in range(3):
        assert (tmp_path / "ray" / f"tasks/momentum/fold{k:02d}/seed0/run/selection.json").is_file()
    recs = [r for r in read_records("btc1h", tmp_path / "runs") if r["source"] == "walkforward"]
    assert len(recs) == 12  # 3 folds x 4 lookbacks evaluated on val
    # the 4 lookbacks, plus the trend baselines' grid points the walk-forward's folds record
    assert trial_summary("btc1h", tmp_path / "runs").sources["walkforward"] == 4
