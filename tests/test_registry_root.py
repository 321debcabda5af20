"""Registry commands with the default root, a LATEST that points nowhere, incomplete runs, and
the parity of predict's account slots with the env's observation (issues 22, 23, 24)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_registry import _tree_run

from agents.serving.model_registry import main, promote, resolve, rollback
from agents.serving.paper_trading import paper_params
from agents.serving.prediction import account_slots, funding_note
from agents.serving.serve_config import MODELS_DIR, MODELS_ROOT_ENV
from envs.market import MarketData
from envs.trading_env import TradingEnv


@pytest.fixture
def default_root(tmp_path, monkeypatch):
    """The default registry root moved to a temp folder (never the repository's models/)."""
    root = tmp_path / "models"
    monkeypatch.setenv(MODELS_ROOT_ENV, str(root))
    monkeypatch.chdir(tmp_path)
    return root


def test_every_subcommand_works_with_the_default_root(default_root, tmp_path, capsys):
    assert main(["promote", str(_tree_run(tmp_path / "r1")), "--name", "btc"]) == 0
    assert main(["promote", str(_tree_run(tmp_path / "r2")), "--name", "btc"]) == 0
    assert (default_root / "btc" / "v2" / "registry.json").is_file()
    capsys.readouterr()
    assert main(["list"]) == 0
    assert capsys.readouterr().out.split()[:2] == ["btc", "v2"]
    assert main(["show", "btc"]) == 0
    assert json.loads(capsys.readouterr().out)["versions"] == [1, 2]
    assert main(["rollback", "btc"]) == 0
    assert capsys.readouterr().out.strip() == "btc: LATEST -> v1"


def test_root_before_or_after_the_subcommand(default_root, tmp_path, capsys):
    other = tmp_path / "other"
    r1, r2 = str(_tree_run(tmp_path / "r1")), str(_tree_run(tmp_path / "r2"))
    assert main(["promote", r1, "--name", "a", "--root", str(other)]) == 0
    assert main(["--root", str(other), "promote", r2, "--name", "a"]) == 0
    capsys.readouterr()
    for argv in (["--root", str(other), "list"], ["list", "--root", str(other)]):
        assert main(argv) == 0
        assert capsys.readouterr().out.split()[:2] == ["a", "v2"]
    assert not default_root.exists()  # nothing went to the default root
    assert main(["--root", str(tmp_path / "nowhere"), "list", "--root", str(other)]) == 0
    assert "a " in capsys.readouterr().out  # the subcommand's --root wins


def test_no_env_var_means_the_repository_models_folder(monkeypatch, capsys):
    monkeypatch.delenv(MODELS_ROOT_ENV, raising=False)
    assert main(["show", "zz_no_such_model"]) == 2
    want = f"error: no model 'zz_no_such_model' under {MODELS_DIR} (promote one first)"
    assert capsys.readouterr().err.strip() == want


def test_a_latest_pointing_to_a_missing_version_is_refused_with_the_fix(tmp_path, capsys):
    root = tmp_path / "models"
    promote(_tree_run(tmp_path / "r1"), "btc", root)
    promote(_tree_run(tmp_path / "r2"), "btc", root)
    shutil.rmtree(root / "btc" / "v2")
    want = (
        f"error: {root / 'btc' / 'LATEST.json'}: points to v2, which is missing (no "
        "v2/registry.json; complete versions: v1); point it at v1: python -m agents.registry "
        "rollback btc"
    )
    for argv in (["list"], ["show", "btc"],
                 ["promote", str(_tree_run(tmp_path / "r3")), "--name", "btc"]):  # fmt: skip
        assert main(["--root", str(root), *argv]) == 2
        assert capsys.readouterr().err.strip() == want
    assert not (root / "btc" / "v2").exists()  # the refused promotion wrote nothing
    assert main(["--root", str(root), "rollback", "btc"]) == 0
    assert capsys.readouterr().out.strip() == (
        "btc: LATEST -> v1 (LATEST pointed to v2, which is missing)"
    )
    assert resolve("btc", root)[0] == root / "btc" / "v1"


def test_a_dangling_latest_without_older_versions_says_how_to_start_again(tmp_path, capsys):
    root = tmp_path / "models"
    promote(_tree_run(tmp_path / "r1"), "btc", root)
    shutil.rmtree(root / "btc" / "v1")
    assert main(["--root", str(root), "rollback", "btc"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {root / 'btc' / 'LATEST.json'}: points to v1, which is missing (no "
        f"v1/registry.json; complete versions: none); no older version to roll back to: remove "
        f"{root / 'btc' / 'LATEST.json'} and promote a run again"
    )


def test_rollback_skips_a_version_without_its_record(tmp_path, capsys):
    root = tmp_path / "models"
    for i in (1, 2, 3):
        promote(_tree_run(tmp_path / f"r{i}"), "btc", root)
    (root / "btc" / "v2" / "registry.json").unlink()
    assert main(["--root", str(root), "rollback", "btc"]) == 0
    assert capsys.readouterr().out.strip() == "btc: LATEST -> v1 (skipped v2: no registry.json)"
    with pytest.raises(ValueError, match="btc: v1 is the oldest version"):
        rollback(root, "btc")


def test_a_trees_run_without_its_model_file_is_refused(tmp_path, capsys):
    run = _tree_run(tmp_path / "r")
    (run / "model.skops").unlink()
    assert main(["--root", str(tmp_path / "models"), "promote", str(run), "--name", "btc"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {run / 'model.skops'}: missing, a tree run is tree.json + model.skops; promote "
        "the folder of a finished supervised.trees run"
    )
    assert not (tmp_path / "models").exists()


def test_paper_accounts_with_the_env_settings_evaluate_uses():
    spec = SimpleNamespace(
        env_settings={"feature_set": "core17", "window": 16, "action": "discrete",
                      "long_only": True, "decision_interval": 4},
        trained_costs={"fee_bps": 7.0, "slippage_bps": 1.0, "funding": False},
    )  # fmt: skip
    p = paper_params(spec, "m")
    assert (p.long_only, p.fee_bps, p.slippage_bps, p.funding) == (True, 7.0, 1.0, False)
    assert (p.max_drawdown, p.episode_length, p.targets) == (None, None, (0.0, 0.0, 1.0))
    spec.env_settings["action"] = "continuous"
    with pytest.raises(ValueError) as exc:
        paper_params(spec, "sac_btc")
    assert str(exc.value) == (
        "sac_btc: a continuous-action policy; agents.paper trades discrete SELL/HOLD/BUY "
        "policies (agents.predict gives this model's target position)"
    )


def test_funding_note_names_the_last_settlement_and_its_age():
    idx = pd.date_range("2024-01-01", "2024-01-10", freq="8h", tz="UTC")
    funding = pd.Series(1e-4, index=idx)
    at = pd.Timestamp
    assert funding_note(funding, at("2024-01-10 08:00", tz="UTC")) is None  # 8 h: current
    assert funding_note(None, at("2030-01-01", tz="UTC")) is None
    assert funding_note(funding, at("2024-01-20 00:00", tz="UTC")) == (
        "funding stale: the last settlement in the funding history is 2024-01-10 00:00Z, 240 h "
        "(10.0 days) before the decision bar's close 2024-01-20 00:00Z (settlements every 8 h): "
        "the funding features carry its rate and no later funding is charged; give a current "
        "--funding FILE"
    )
    assert funding_note(funding, at("2023-12-31 00:00", tz="UTC")) == (
        "funding history starts at 2024-01-01 00:00Z, after the decision bar's close "
        "2023-12-31 00:00Z: the funding features read 0, as before a contract's listing; if it "
        "was listed, give a --funding file that covers the candles"
    )


# --------------------------------------------------------------------------- issue 22 item 7
def _market(n_bars: int, seed: int) -> MarketData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(0.03 * rng.standard_normal(n_bars)))
    open_ = np.r_[100.0, close[:-1]] * np.exp(0.005 * rng.standard_normal(n_bars))
    idx = pd.date_range("2024-01-01", periods=n_bars, freq="1h", tz="UTC")
    candles = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.01,
                            "low": np.minimum(open_, close) * 0.99, "close": close}, index=idx)  # fmt: skip
    feats = rng.standard_normal((n_bars, 2))
    return MarketData.build(candles, feats, window=3)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    actions=st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.3, 1.0]), min_size=1, max_size=60),
    continuous=st.booleans(),
)
def test_predict_account_slots_equal_the_env_observation(seed, actions, continuous):
    """A live trader's own bookkeeping (position, the fill that opened it, bars held, equity
    peak) through ``agents.serving.prediction.account_slots`` gives the env's observation tail, bar by
    bar: a drift of either side's formula or constants fails here."""
    market = _market(80, seed)
    kind = "continuous" if continuous else "discrete"
    env = TradingEnv(market, (0, market.n_bars), action=kind, fee_bps=10.0, max_drawdown=None,
                     episode_length=None)  # fmt: skip
    obs, info = env.reset(options={"start": 3})
    t, pos, entry, held, peak = info["bar"], 0.0, None, 0, 1.0
    np.testing.assert_array_equal(obs[-4:], account_slots(float(market.close[t])))
    for w in actions:
        w = w if continuous else float(round(w))  # discrete: SELL / HOLD / BUY
        act = np.array([w], np.float32) if continuous else int(w) + 1
        obs, _, term, trunc, info = env.step(act)
        if np.sign(w) != np.sign(pos):  # opened or flipped at the next bar's open
            entry, held = float(market.open[t + 1]), 0
        held += w != 0.0
        pos, t = w, info["bar"]
        peak = max(peak, info["equity"])
        dd = 1.0 - info["equity"] / peak
        want = account_slots(float(market.close[t]), pos, entry if pos else None,
                             held if pos else 0, dd)  # fmt: skip
        np.testing.assert_array_equal(obs[-4:], want)
        if term or trunc:
            break
