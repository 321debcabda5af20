"""PPO on a portfolio universe (agents.portfolio): the --env comma list, the run folder, val
selection, the saved policy (plain tensors + JSON) and its evaluation beside the baselines."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from agents.portfolio import is_universe, load_run_policy
from agents.portfolio.policy import PortfolioPolicySpec
from agents.portfolio.train import run
from envs.markets import MarketSpecError, resolve_market
from envs.portfolio.members import members_of
from envs.portfolio.weights import keep_within_band
from envs.synthetic import csv_bytes
from evaluate.portfolio import main as evaluate_main
from lab.config import ConfigError

XS = "synth-xs-regime,synth-xs-rw1,synth-xs-rw2"


_ROOT: list = []


def tmp_path_factory_root():
    """This session's ledger root (RLTRADE_RUNS_ROOT)."""
    return _ROOT[0]


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Generated markets and ledgers go to temp folders."""
    base = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("RLTRADE_SYNTH_DIR", str(base / "synth"))
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(base / "runs_root"))
    _ROOT[:] = [base / "runs_root"]


def test_a_comma_list_is_a_universe_a_space_list_is_not():
    assert is_universe(["--env", "btc1h,eth1h", "--seed", "1"])
    assert is_universe(["--seed", "1", "--env=btc1h,eth1h,data/sol.csv.gz"])
    assert not is_universe(["--env", "btc1h", "eth1h"])  # multi-market training: not ours
    assert not is_universe(["--env", "btc1h"])
    assert is_universe(["--env=btc1h,eth1h"]) and not is_universe(["--envs", "btc1h,eth1h"])
    assert members_of("btc1h, eth1h") == ["btc1h", "eth1h"]
    with pytest.raises(ConfigError, match="give each member once"):
        members_of("btc1h,btc1h")
    with pytest.raises(ConfigError, match="no empty one"):
        members_of("btc1h,,eth1h")


def test_keep_within_band_by_hand():
    prev = np.array([[0.5, 0.2, 0.0], [0.5, 0.2, 0.0]])
    new = np.array([[0.52, 0.1, 0.03], [0.56, 0.4, 0.0]])
    tradable = np.ones((2, 3))
    got = keep_within_band(new, prev, tradable, 0.05, "long_only", 1.0)
    # row 0: assets 0 and 2 move less than 0.05 -> kept (0.5, 0.0); asset 1 trades to 0.1
    np.testing.assert_allclose(got[0], [0.5, 0.1, 0.0])
    # row 1: keeping 0.5 beside the new 0.4 + 0.0 sums to 0.9: allowed
    np.testing.assert_allclose(got[1], [0.56, 0.4, 0.0])
    over = keep_within_band(
        np.array([[0.5, 0.5, 0.0]]), np.array([[0.54, 0.0, 0.0]]), tradable[:1], 0.05,
        "long_only", 1.0,
    )  # fmt: skip
    np.testing.assert_allclose(over, [[0.5, 0.5, 0.0]])  # keeping 0.54 beside 0.5 is 1.04 > 1
    not_tradable = keep_within_band(new[:1], prev[:1], np.array([[1, 0, 1]]), 0.5, "long_only", 1)
    assert not_tradable[0, 1] == 0.1  # only tradable assets keep a target


@pytest.mark.slow
def test_ppo_on_a_universe_selects_on_val_and_evaluate_reproduces_the_val_pass(tmp_path):
    run_dir = run(
        "ppo",
        ["--env", XS, "--timesteps", "1024", "--n-envs", "4", "--eval-freq", "512",
         "--feature-set", "core17", "--window", "8", "--d-model", "8",
         "--run-dir", str(tmp_path / "run")],
    )  # fmt: skip
    metrics = json.loads((run_dir / "metrics.json").read_text())
    sharpes = [e["sharpe"] for e in metrics["evaluations"]]
    assert [e["step"] for e in metrics["evaluations"]] == [512, 1024]  # 4 envs x 128 steps
    best = max(range(len(sharpes)), key=lambda i: sharpes[i])
    assert metrics["selected_at_step"] == metrics["evaluations"][best]["step"]
    assert set(metrics["attribution"]) == set(XS.split(","))
    net, spec = load_run_policy(run_dir)
    assert spec.members == tuple(XS.split(",")) and spec.window == 8
    # the head-to-head reruns the selected policy on val: the same Sharpe as at selection
    results = evaluate_main(["--run", str(run_dir), "--split", "val", "--json"])
    assert results["ppo_agent"]["sharpe"] == pytest.approx(metrics["val"]["sharpe"], rel=1e-9)
    assert {"equal_weight_daily", "trend_vol_target", "oracle_filter"} <= set(results)
    attribution = results["ppo_agent"]["attribution"]
    total = sum(a["pnl"] - a["fee"] - a["slippage"] - a["funding"] for a in attribution.values())
    assert total == pytest.approx(metrics["val"]["total_return"], abs=0.5)  # sums, not compounds
    # a permuted universe: the equivariant policy runs on it (a different N works the same way)
    permuted = evaluate_main(
        ["--run", str(run_dir), "--env", "synth-xs-rw2,synth-xs-regime", "--split", "val",
         "--json"]
    )  # fmt: skip
    assert set(permuted["ppo_agent"]["weights_mean"]) == {"synth-xs-rw2", "synth-xs-regime"}
    ledger = tmp_path_factory_root() / "synth-xs-regime_synth-xs-rw1_synth-xs-rw2" / "ledger.jsonl"
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    mine = [r for r in records if r["run_dir"] == str(run_dir)]
    assert len(mine) == 1 and mine[0]["val_sharpe"] == pytest.approx(metrics["val"]["sharpe"])


def test_load_run_policy_refuses_what_is_not_a_plain_portfolio_policy(tmp_path):
    with pytest.raises(ConfigError, match="not a portfolio run"):
        load_run_policy(tmp_path)
    spec = {
        "members": ["a", "b"], "feature_set": "core17", "window": 4, "n_features": 3,
        "mode": "long_only", "gross_cap": 1.0, "net": {"d_model": 8}, "rebalance_band": 0.0,
        "action_map": "logits",
    }  # fmt: skip
    (tmp_path / "policy.json").write_text(json.dumps({**spec, "mode": "short_only"}))
    with pytest.raises(ConfigError, match="mode='short_only' is missing or invalid"):
        load_run_policy(tmp_path)
    (tmp_path / "policy.json").write_text(json.dumps(spec))
    with pytest.raises(ConfigError, match="best_policy.pt: missing"):
        load_run_policy(tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Payload()}, tmp_path / "best_policy.pt")
    with pytest.raises(ConfigError, match="not a plain tensor file"):
        load_run_policy(tmp_path)
    torch.save({"x": torch.zeros(2)}, tmp_path / "best_policy.pt")
    with pytest.raises(ConfigError, match="do not match policy.json's network"):
        load_run_policy(tmp_path)
    good = PortfolioPolicySpec.from_dict(spec, "x").build_net()
    state = {k: v.clone() for k, v in good.state_dict().items()}
    state["score.weight"][0, 0] = float("nan")
    torch.save(state, tmp_path / "best_policy.pt")
    with pytest.raises(ConfigError, match="'score.weight' is not finite"):
        load_run_policy(tmp_path)


def _candles(folder: Path, name: str, market: str) -> Path:
    path = folder / name
    path.write_bytes(csv_bytes(market))
    return path


def test_a_folder_of_candle_files_is_a_universe_with_each_members_funding(tmp_path):
    uni = tmp_path / "uni"
    uni.mkdir()
    b = _candles(uni, "b_1h.csv", "synth-xs-rw2")
    a = _candles(uni, "a_1h.csv", "synth-xs-rw1")
    (uni / ".DS_Store").write_bytes(b"\0")  # hidden: never a member
    (uni / "a_1h.csv.provenance.json").write_text("[]")  # envs.data fetch's record of a_1h.csv
    assert is_universe(["--env", str(uni)]) and not is_universe(["--env", str(a)])
    assert members_of(str(uni)) == [str(a), str(b)]  # by name
    fund = uni / "a_1h_funding.csv"
    stamps = pd.to_datetime(pd.read_csv(a).timestamp)  # settlements every 8 h over the candles
    settle = pd.date_range(stamps.iloc[0].floor("8h"), stamps.iloc[-1].ceil("8h"), freq="8h")
    pd.DataFrame({"timestamp": settle.strftime("%Y-%m-%dT%H:%M:%SZ"), "funding_rate": 1e-4}).to_csv(
        fund, index=False
    )
    assert members_of(str(uni)) == [f"{a}?funding={fund}", str(b)]
    results = evaluate_main(["--env", str(uni), "--split", "test", "--json"])
    held = results["universe_buy_and_hold"]
    assert list(held["attribution"]) == [f"{a}?funding={fund}", str(b)]
    assert held["funding_pct_per_year"] > 0  # a's funding (0.01 % a settlement) is charged


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (["a_1h.csv", "notes.txt"], "notes.txt is not a candle file"),
        (
            ["a_1h.csv", "b_1h.csv", "c_1h.csv.provenance.json"],
            "c_1h.csv.provenance.json is the fetch record of no file here",
        ),
        (["a_1h.csv", "a_1h.csv.gz"], "are one market's file twice"),
        (["a_1h.csv", "b_1h_funding.csv"], "b_1h_funding.csv is the funding of no member"),
        (["a_1h.csv"], "1 candle file(s); a universe needs two or more"),
    ],
)
def test_a_folder_universe_names_what_it_refuses(tmp_path, files, message):
    for name in files:
        _candles(tmp_path, name, "synth-xs-rw1")
    with pytest.raises(ConfigError, match=re.escape(message)):
        members_of(str(tmp_path))


def _catalog(tmp_path: Path, text: str) -> Path:
    _candles(tmp_path, "rw1_1h.csv", "synth-xs-rw1")
    _candles(tmp_path, "rw2_1h.csv", "synth-xs-rw2")
    cat = tmp_path / "catalog.yml"
    cat.write_text(text)
    return cat


def test_a_catalog_entry_with_members_is_a_universe(tmp_path):
    cat = _catalog(tmp_path, "rw1: {candles: rw1_1h.csv}\nduo: {members: [rw1, rw2_1h.csv]}\n")
    members = members_of("duo", cat)
    assert members == [
        f"catalog:rw1?catalog={cat.resolve()}",
        str((tmp_path / "rw2_1h.csv").resolve()),
    ]
    assert is_universe(["--env", "duo", "--catalog", str(cat)])
    assert not is_universe(["--env", "rw1", "--catalog", str(cat)])  # one market
    results = evaluate_main(["--env", "duo", "--catalog", str(cat), "--split", "test", "--json"])
    assert list(results["equal_weight_weekly"]["attribution"]) == members
    with pytest.raises(MarketSpecError, match="entry duo is a universe"):
        resolve_market("duo", catalog=cat)  # never read as one market


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("duo: {members: [btc1h]}", "members: must list two or more"),
        ("duo: {members: [btc1h, eth1h], bar: 4h}", "a universe holds members: only"),
        (
            "duo: {members: [btc1h, eth1h]}\ntrio: {members: [duo, btc1h]}",
            "member duo is a universe",
        ),
    ],
)
def test_a_faulty_universe_entry_is_named(tmp_path, entries, message):
    cat = _catalog(tmp_path, entries + "\n")
    name = "trio" if "trio" in entries else "duo"
    assert is_universe(["--env", name, "--catalog", str(cat)])  # its message comes from members_of
    with pytest.raises(ConfigError, match=re.escape(message)):
        members_of(name, cat)
