"""``python -m evaluate`` reads the market's trial ledger for the deflated Sharpe (issue 10 item
4): hand-made ledger records in a throwaway ``RLTRADE_RUNS_ROOT``, no training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluate import cli
from evaluate.ledger_trials import ledger_trials
from lab.ledger import append_record, ledger_path, make_record, read_records


def _rec(cfg: dict, seed: int, sharpe: float | None, source: str) -> dict:
    return make_record(market="btc1h", source=source, algo="x", config={**cfg, "seed": seed},
                       seed=seed, run_dir=f"/r/{source}{seed}", val_sharpe=sharpe,
                       periods_per_year=8760)  # fmt: skip


@pytest.fixture
def ledger_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three configurations: A (2 seeds, val Sharpes 1 and 2: mean 1.5, source run), B (a flat
    policy, Sharpe null = 0, tune), C (3.0, supervised). By hand: n = 3, trial means
    [1.5, 0, 3], mean 1.5, variance ((0)^2 + 1.5^2 + 1.5^2) / 2 = 2.25."""
    root = tmp_path / "runs"
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(root))
    for rec in (_rec({"a": 1}, 0, 1.0, "run"), _rec({"a": 1}, 1, 2.0, "run"),
                _rec({"b": 2}, 0, None, "tune"), _rec({"c": 3}, 0, 3.0, "supervised")):  # fmt: skip
        append_record(rec, root)
    return root


def _evaluate(tmp_path: Path, *flags: str) -> dict:
    out = tmp_path / "eval"
    argv = ["--env", "btc1h", "--split", "val", "--n-boot", "50", "--no-plots", "--out", str(out)]
    assert cli.main([*argv, *flags]) == 0
    return json.loads((out / "metrics.json").read_text())


def test_ledger_sets_trials_and_variance(
    ledger_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    m = _evaluate(tmp_path)
    # evaluate chose the known-edge baselines on val first: 13 grid points, 13 more trials
    base = [
        r["val_sharpe"] for r in read_records("btc1h", ledger_root) if r["source"] == "baseline"
    ]
    assert len(base) == 13
    assert m["trials"]["n"] == 16
    assert m["trials"]["sharpe_var"] == pytest.approx(np.var([1.5, 0.0, 3.0, *base], ddof=1))
    assert m["ledger"]["sources"] == {"baseline": 13, "run": 1, "supervised": 1, "tune": 1}
    assert m["ledger"]["n_records"] == 17
    assert m["ledger"]["path"] == str(ledger_path("btc1h", ledger_root).resolve())
    src = m["trials"]["source"]
    assert src.startswith("ledger ")
    assert "16 trials (baseline 13, run 1, supervised 1, tune 1) from 17" in src
    assert str(ledger_path("btc1h", ledger_root).resolve()) in src
    assert f"trials: 16 trials counted, from: {src}" in capsys.readouterr().out
    html = (tmp_path / "eval" / "report.html").read_text()
    assert "16, from: ledger " in html
    # PBO and SPA over the trials that kept their val returns: the 13 baseline grid points
    over = m["overfitting"]
    assert over["n_trials"] == 13 and 0.0 <= over["pbo"] <= 1.0
    assert set(over["spa"]) == {"buy_and_hold", "tsmom_long_flat"}
    assert over["sentences"][0].startswith("probability the selected configuration is overfit")


def test_flags_override_the_ledger(ledger_root: Path, tmp_path: Path) -> None:
    m = _evaluate(tmp_path, "--n-trials", "10")
    base = [
        r["val_sharpe"] for r in read_records("btc1h", ledger_root) if r["source"] == "baseline"
    ]
    var = np.var([1.5, 0.0, 3.0, *base], ddof=1)  # the ledger's, baselines' trials included
    assert m["trials"]["n"] == 10 and m["trials"]["sharpe_var"] == pytest.approx(var)
    assert m["trials"]["source"].startswith("--n-trials flag (overriding ledger ")
    m2 = _evaluate(tmp_path / "b", "--n-trials", "7", "--trials-sharpe-var", "0.5")
    assert m2["trials"]["n"] == 7 and m2["trials"]["sharpe_var"] == pytest.approx(0.5)


def test_no_ledger_counts_the_policies_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "empty"))
    monkeypatch.setenv("RLTRADE_NO_LEDGER", "1")  # else the baselines' val choice starts one
    m = _evaluate(tmp_path)
    assert m["ledger"]["exists"] is False and m["ledger"]["n_trials"] == 0
    assert "no ledger, no --n-trials" in m["trials"]["source"]


def test_ensembles_add_one_trial_each(ledger_root: Path) -> None:
    trials, info = ledger_trials("btc1h", n_ensembles=2)
    assert trials is not None and trials.n == 5 and info["ensembles_added"] == 2
    assert trials.source.endswith("+ 2 ensembles built here")


def test_malformed_ledger_is_one_line_and_writes_nothing(ledger_root: Path, tmp_path: Path) -> None:
    with open(ledger_path("btc1h", ledger_root), "a") as fh:
        fh.write("{not json\n")
    with pytest.raises(SystemExit, match=r"ledger.jsonl line 5: not a JSON record"):
        cli.main(["--env", "btc1h", "--no-plots", "--out", str(tmp_path / "eval")])
    assert not (tmp_path / "eval").exists()
