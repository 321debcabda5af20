"""Scheduled retraining of a tiny tree model: promoted when it beats LATEST, kept when not.

The comparison is made deterministic: the first incumbent is edited into an always-short model
(a huge SELL logit bias, argmax rule) and the val window is Nov-Dec 2020, when BTC doubled; the
second retrain trains the same config on the same window and seed as the promoted candidate, so
it ties with it and a tie keeps the incumbent.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from agents.serving.model_registry import promote, resolve
from agents.serving.retraining import main, window_market, window_splits
from envs.markets import resolve_market
from lab.ledger import default_runs_root, read_records
from supervised.trees.train import train

pytestmark = pytest.mark.slow  # three tiny tree fits (tens of seconds on 2 cores)

TINY = ["--n-estimators", "4", "--max-depth", "3", "--min-samples-leaf", "20", "--hgb-max-iter",
        "4", "--gb-n-estimators", "4", "--n-jobs", "1", "--seed", "1"]  # fmt: skip
WINDOW = ["--asof", "2021-01-01", "--train-days", "120", "--val-days", "60"]


def test_window_splits_rolling_and_expanding():
    index = pd.date_range("2020-01-01", "2020-12-31 23:00", freq="1h", tz="UTC")
    bar = pd.Timedelta("1h")
    w = window_splits(index, bar, kind="rolling", train_days=100, val_days=30)
    assert w.val == ("2020-12-02T00:00:00", "2021-01-01T00:00:00")
    assert w.train == ("2020-08-24T00:00:00", "2020-12-02T00:00:00")
    e = window_splits(index, bar, kind="expanding", train_days=100, val_days=30)
    assert e.train == ("2020-01-01T00:00:00", "2020-12-02T00:00:00") and e.val == w.val
    with pytest.raises(ValueError, match="too short"):
        window_splits(index, bar, kind="rolling", train_days=10, val_days=400)


def _always_short(version_dir) -> None:
    """Make a registered tree version a deliberately bad incumbent: SELL on every bar."""
    info = json.loads((version_dir / "tree.json").read_text())
    info["decision_rule"] = {"kind": "argmax", "tau": 0.0, "min_hold": 0}
    info["logit_correction"] = {**info["logit_correction"], "bias": [50.0, 0.0, 0.0]}
    (version_dir / "tree.json").write_text(json.dumps(info))


def test_retrain_promotes_a_better_candidate_and_keeps_a_tie(tmp_path, capsys):
    root, work = tmp_path / "models", tmp_path / "candidates"
    base = resolve_market("btc1h")
    index = pd.date_range("2020-01-01", "2021-06-01", freq="1h", tz="UTC")
    window = window_splits(index, pd.Timedelta("1h"), kind="rolling", train_days=120,
                           val_days=60, asof=pd.Timestamp("2021-01-01", tz="UTC"))  # fmt: skip
    with window_market(base, window) as market:
        first = train(["--env", market, "--run-dir", str(tmp_path / "first"), *TINY])
        v1 = promote(first, "rt", root, market="btc1h")
    _always_short(v1)

    args = ["--model", "rt", "--root", str(root), "--work-dir", str(work), *WINDOW]
    assert main(args) == 0
    out = capsys.readouterr().out
    d, rec = resolve("rt", root)
    assert rec["version"] == "v2" and "promoted as v2" in out
    r = rec["retrain"]
    assert r["incumbent"] == "v1" and r["window"]["val"] == ["2020-11-02T00:00:00",
                                                             "2021-01-01T00:00:00"]  # fmt: skip
    assert r["incumbent_val"]["sharpe"] < 0 < r["incumbent_val"]["n_bars"]
    assert r["candidate_val"]["sharpe"] > r["incumbent_val"]["sharpe"]
    assert rec["market"] == "btc1h" and (d / "model.skops").is_file()

    assert main(args) == 0  # the same config, window and seed: a tie keeps v2
    assert "kept the incumbent" in capsys.readouterr().out
    assert resolve("rt", root)[1]["version"] == "v2"
    history = [json.loads(x) for x in (root / "rt" / "retrain.jsonl").read_text().splitlines()]
    assert [h["promoted"] for h in history] == [True, False]
    assert history[1]["candidate_val"]["sharpe"] == history[1]["incumbent_val"]["sharpe"]
    ledger = [x for x in read_records("btc1h", default_runs_root()) if x["source"] == "retrain"]
    assert len(ledger) == 2 and ledger[0]["config_hash"] == ledger[1]["config_hash"]
    assert ledger[0]["val_sharpe"] == pytest.approx(r["candidate_val"]["sharpe"])
    assert ledger[0]["algo"] == "trees"
    # the candidates' own tree records are off: nothing filed under the window's market name
    windows = [p.parent.name for p in default_runs_root().glob("btc1h_rt_*/ledger.jsonl")]
    filed = [x["run_dir"] for w in windows for x in read_records(w, default_runs_root())]
    assert filed and not [d for d in filed if d.startswith(str(work.resolve()))]


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["--model", "nope", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no model 'nope'" in err
