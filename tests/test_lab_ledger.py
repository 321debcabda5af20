"""The trial ledger (lab.ledger) and the seed-group summary (lab.seeds): no Ray, no training."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from lab.ledger import (
    append_record,
    config_hash,
    ledger_path,
    make_record,
    read_records,
    trial_summary,
)
from lab.seeds import GroupSpec, summarise

CFG = {"env_name": "btc1h", "ppo": {"gamma": 0.99}, "seed": 0, "train": {"device": "cpu"}}


def _rec(cfg: dict, seed: int, sharpe: float | None, source: str = "run") -> dict:
    return make_record(
        market="btc1h",
        source=source,
        algo="ppo",
        config={**cfg, "seed": seed},
        seed=seed,
        run_dir=f"/r/{seed}",
        val_sharpe=sharpe,
        periods_per_year=8760,
    )


def test_config_hash_ignores_where_and_which_seed_but_not_hyperparameters() -> None:
    moved = {**CFG, "seed": 7, "run_dir": "/elsewhere", "train": {"device": "cuda"}}
    assert config_hash(moved) == config_hash(CFG)
    assert config_hash({**CFG, "ppo": {"gamma": 0.95}}) != config_hash(CFG)


def test_summary_one_trial_per_config_mean_over_seeds_flat_counts_as_zero(tmp_path: Path) -> None:
    a, b, c = CFG, {**CFG, "ppo": {"gamma": 0.9}}, {**CFG, "ppo": {"gamma": 0.5}}
    for rec in (
        _rec(a, 0, 1.0, "seed_group"),
        _rec(a, 1, 2.0, "seed_group"),
        _rec(b, 0, 0.5, "tune"),
        _rec(c, 0, float("nan"), "run"),  # an always-flat policy: stored null, counted as 0
    ):
        append_record(rec, tmp_path)
    s = trial_summary("btc1h", tmp_path)
    # trial Sharpes 1.5, 0.5, 0.0: mean 2/3; ddof-1 variance (0.8333^2+0.1667^2+0.6667^2)/2
    assert s.n_trials == 3 and s.n_records == 4
    assert s.sharpe_var == pytest.approx(7 / 12)
    assert s.sources == {"seed_group": 1, "tune": 1, "run": 1}
    assert [r["val_sharpe"] for r in read_records("btc1h", tmp_path)] == [1.0, 2.0, 0.5, None]


def test_summary_single_trial_has_zero_variance_and_empty_ledger_none(tmp_path: Path) -> None:
    assert trial_summary("btc1h", tmp_path).n_trials == 0
    append_record(_rec(CFG, 0, 1.2), tmp_path)
    s = trial_summary("btc1h", tmp_path)
    assert (s.n_trials, s.sharpe_var) == (1, 0.0)


def _appender(root: str, worker: int, n: int) -> None:
    for i in range(n):
        rec = _rec({**CFG, "ppo": {"gamma": worker}}, i, float(i))
        rec["extra"] = {"pad": "x" * 5000, "worker": worker}  # lines longer than a pipe buffer
        append_record(rec, root)


def test_appends_from_several_processes_never_interleave(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_appender, args=(str(tmp_path), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = ledger_path("btc1h", tmp_path).read_text().splitlines()
    assert len(lines) == 160
    recs = [json.loads(line) for line in lines]  # every line is one whole record
    for w in range(4):
        assert [r["seed"] for r in recs if r["extra"]["worker"] == w] == list(range(40))
    assert trial_summary("btc1h", tmp_path).n_trials == 4


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    append_record(_rec(CFG, 0, 1.0), tmp_path)
    with open(ledger_path("btc1h", tmp_path), "a") as fh:
        fh.write("{half a record\n")
    with pytest.raises(ValueError, match=r"ledger.jsonl line 2"):
        trial_summary("btc1h", tmp_path)


def test_unknown_source_refused() -> None:
    with pytest.raises(ValueError, match="must be one of"):
        _rec(CFG, 0, 1.0, source="guess")


def test_group_summary_keeps_failures_and_counts_collapsed_seeds(tmp_path: Path) -> None:
    per = {
        0: {"val_sharpe": 1.0},
        1: {"val_sharpe": None, "collapsed": True},
        3: {"val_sharpe": -0.5},
    }
    spec = GroupSpec(
        algo="ppo",
        env="btc1h",
        module="agents.ppo",
        argv=[],
        seeds=[0, 1, 2, 3],
        config=CFG,
        group_dir=tmp_path,
        read_metrics=lambda d: per.get(int(d.name[1:])),
    )
    s = summarise(spec, {2: "RuntimeError: boom"})
    agg = s["aggregate"]
    # Sharpes 1.0, 0.0 (flat), -0.5 over 3 finished seeds; seed 2 failed and is listed
    assert agg["mean"] == pytest.approx(0.5 / 3)
    assert (agg["median"], agg["worst"], agg["n_ok"]) == (0.0, -0.5, 3)
    assert (agg["n_collapsed"], agg["collapsed_seeds"]) == (1, [1])
    assert s["failures"] == [{"seed": 2, "error": "RuntimeError: boom"}]
    assert s["per_seed"]["2"]["status"] == "failed"


def test_record_without_val_sharpe_counts_as_trial_but_not_in_variance(tmp_path: Path) -> None:
    append_record(_rec(CFG, 0, 1.0), tmp_path)
    append_record(_rec({**CFG, "ppo": {"gamma": 0.9}}, 0, 3.0), tmp_path)
    rec = _rec({**CFG, "ppo": {"gamma": 0.5}}, 0, None, "walkforward")
    rec["extra"] = {"no_val_sharpe": True}
    append_record(rec, tmp_path)
    s = trial_summary("btc1h", tmp_path)
    assert (s.n_trials, s.sharpe_var) == (3, pytest.approx(2.0))  # var of 1.0 and 3.0
