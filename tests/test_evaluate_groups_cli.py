"""``python -m evaluate ... ppo=<seed group>`` end to end: tiny runs trained with today's CLIs."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from evaluate import cli

pytest.importorskip("stable_baselines3")


def test_bad_group_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = tmp_path / "g"
    g.mkdir()
    (g / "group.json").write_text(json.dumps({"kind": "seed_group", "algo": "ppo", "seeds": [0]}))
    assert cli.main(["--env", "btc1h", f"ppo={g}", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"python -m evaluate: error: {g}/group.json: needs 'seeds' (a list) and 'runs' (seed -> folder)"
    )


@pytest.mark.slow
def test_seed_group_evaluation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from agents import ppo
    from lab.ledger import ledger_path, read_records
    from supervised import train as supervised_train

    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "runs"))  # this test's ledger only

    group = tmp_path / "ppo_group"
    common = ["--env", "btc1h", "--timesteps", "128", "--n-envs", "1", "--no-progress"]
    for s in (0, 1, 2):
        ppo.main([*common, "--seed", str(s), "--run-dir", str(group / f"s{s}")])
    meta = {"kind": "seed_group", "algo": "ppo", "env": "btc1h", "seeds": [0, 1, 2, 3],
            "runs": {str(s): f"s{s}" for s in range(4)}, "command": ["python", "-m", "agents.ppo"],
            "config": {}, "created": "2026-11-29T00:00:00Z"}  # fmt: skip
    (group / "group.json").write_text(json.dumps(meta))
    (group / "summary.json").write_text(json.dumps({"failures": {"3": "killed by OOM"}}))
    sup = tmp_path / "sup"
    supervised_train.main(["--env", "btc1h", "--epochs", "1", "--max-train-samples", "512",
                           "--max-val-bars", "500", "--seed", "0", "--run-dir", str(sup)])  # fmt: skip
    capsys.readouterr()

    out = tmp_path / "eval"
    argv = ["--env", "btc1h", "--split", "test", f"ppo={group}", f"supervised={sup}",
            "--n-boot", "200", "--no-plots", "--out", str(out)]  # fmt: skip
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    agg = m["seed_aggregates"]["ppo"]
    sharpes = [m["policies"][f"ppo_s{s}"]["sharpe"] for s in range(3)]
    expect = [0.0 if v is None else v for v in sharpes]  # flat: 0; always long keeps its Sharpe
    assert agg["n_seeds"] == 3 and agg["sharpes"] == pytest.approx(expect)
    assert agg["iqm"] == pytest.approx(float(sps.trim_mean(expect, 0.25)))
    assert agg["iqm_low"] <= agg["iqm"] <= agg["iqm_high"]
    assert agg["worst"] == pytest.approx(min(expect)) and agg["median"] == pytest.approx(
        np.median(expect)
    )
    sup_sharpe = m["seed_aggregates"]["supervised"]["sharpes"][0]
    bh = m["policies"]["buy_and_hold"]["sharpe"]
    assert agg["p_improve"]["buy_and_hold"] == pytest.approx(np.mean([v > bh for v in expect]))
    assert agg["p_improve"]["supervised"] == pytest.approx(
        np.mean([v > sup_sharpe for v in expect])
    )
    assert agg["failed_seeds"] == {"3": "killed by OOM"}
    # the ledger: 3 PPO seeds of one configuration (1 trial) + 1 supervised run (1 trial) + the
    # 13 grid points of the known-edge baselines chosen on val by this evaluation
    ledger = ledger_path("btc1h", tmp_path / "runs").resolve()
    assert m["trials"]["n"] == 15
    assert m["ledger"]["sources"] == {"baseline": 13, "run": 1, "supervised": 1}
    assert m["ledger"]["n_records"] == 17 and m["ledger"]["path"] == str(ledger)
    # every trained run's record points to its per-bar val returns: the bars its own pass held
    # (PPO's 16-bar window resumes sooner after the val split's data gap than the 32-bar one)
    trained = [r for r in read_records("btc1h", tmp_path / "runs") if r["source"] != "baseline"]
    assert [(r["algo"], r["returns"]["n_bars"]) for r in trained] == [
        ("ppo", 8573), ("ppo", 8573), ("ppo", 8573), ("supervised", 8557)]  # fmt: skip
    assert m["trials"]["source"].startswith("ledger ") and str(ledger) in m["trials"]["source"]
    # the printed rows: per seed, IQM with its CI, P(improvement), collapsed, trials, verdict
    assert f"ppo: 3 seeds  IQM {agg['iqm']:+.3f} 95% CI [{agg['iqm_low']:+.3f}" in text
    assert f"P(> buy_and_hold) {agg['p_improve']['buy_and_hold']:.3f}" in text
    assert f"P(> supervised) {agg['p_improve']['supervised']:.3f}" in text
    assert f"collapsed {agg['n_collapsed']}/3" in text
    assert "ppo: seed 3 FAILED to train, not backtested: killed by OOM" in text
    assert (
        f"trials: 15 trials counted, from: ledger {ledger}: 15 trials (baseline 13, run 1, "
        "supervised 1)" in text
    )
    assert agg["verdict"].startswith("PPO (3 seeds, 1 failed to train) on test 2024-01-01 to ")
    assert ": IQM Sharpe " in agg["verdict"] and "vol-target 1." in agg["verdict"]
    page = (out / "report.html").read_text()
    assert agg["verdict"] in text and html.escape(agg["verdict"]) in page  # escaped: ' and <
