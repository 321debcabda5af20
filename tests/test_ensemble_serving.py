"""A seed group promoted as one ensemble model (``agents.serving.ensemble_registry``).

A real 2-seed PPO group is trained with a tiny budget (``agents.ppo --seeds 0 1``), promoted with
``--ensemble``, and served: predict's decision equals ``backtest.ensemble``'s policy over the
members loaded by SB3's own path (``load_run``, not predict's numpy actor) on the same
observation; a paper tick decides the same. Refusals (a mismatched member, a missing model, a
failed seed) are one ``error:`` line, exit 2, and leave the registry untouched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium import spaces

from agents.acting.loading import load_run
from agents.paper import main as paper_main
from agents.ppo import main as ppo_main
from agents.predict import main as predict_main
from agents.registry import main as registry_main
from agents.serving.ensemble_registry import ServedEnsemble
from agents.serving.prediction import account_slots, serve_lookback, serve_market
from backtest.ensemble import EnsemblePolicy, build_ensemble, vote
from backtest.runner import run_policy
from envs.data import load_candles, load_funding

CANDLES = "data/btcusdt_1h.csv.gz"
S, H, B = 0, 1, 2  # SELL, HOLD, BUY


class Const:
    """A hand-made member that always takes one discrete action."""

    def __init__(self, action: int) -> None:
        self.action = action

    def bind(self, market: object, action_space: object) -> None:
        pass

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        return np.full(len(obs_batch), self.action, dtype=np.int64)


def _served(rule: str, actions: list[int]) -> ServedEnsemble:
    members: list = [Const(a) for a in actions]
    names = [f"m{i}" for i in range(len(actions))]
    inner = EnsemblePolicy(rule, members, [spaces.Discrete(3)] * len(actions), names=names)
    served = ServedEnsemble(inner)
    served.bind(None, spaces.Discrete(3))
    return served


def test_voting_when_members_disagree_is_the_plurality_or_flat() -> None:
    obs, bars = np.zeros((1, 4), np.float32), np.array([0])
    two_buy = _served("voting", [B, B, S])
    assert int(two_buy.act(obs, bars)[0]) == B  # BUY, BUY, SELL -> BUY
    assert two_buy.proposals(obs, bars) == {"m0": 1.0, "m1": 1.0, "m2": -1.0}
    assert int(_served("voting", [B, S, H]).act(obs, bars)[0]) == H  # a three-way tie -> flat
    assert int(_served("disagreement", [B, B, S]).act(obs, bars)[0]) == H  # not unanimous


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ens")
    cfg = tmp / "tiny.yml"
    cfg.write_text(yaml.safe_dump({"train": {"eval_freq": 10**6, "checkpoint_freq": 10**6},
                                   "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1}}))  # fmt: skip
    mp = pytest.MonkeyPatch()
    mp.setenv("RLTRADE_NO_LEDGER", "1")
    try:
        ppo_main(["--env", "btc1h", "--seeds", "0", "1", "--workers", "1", "--timesteps", "128",
                  "--n-envs", "2", "--config", str(cfg), "--run-dir", str(tmp / "g")])  # fmt: skip
    finally:
        mp.undo()
    return tmp / "g"


def _promote(group: Path, root: Path, *extra: str) -> int:
    return registry_main(["promote", str(group), "--name", "ens", "--root", str(root), *extra])


def _predict(root: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    argv = ["--model", "ens", "--root", str(root), "--candles", CANDLES, "--replay", "--json"]
    assert predict_main(argv) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.mark.slow
def test_promote_predict_parity_and_paper(group: Path, tmp_path: Path, capsys) -> None:
    root = tmp_path / "models"
    assert _promote(group, root, "--ensemble", "voting") == 0
    rec = json.loads((root / "ens" / "v1" / "registry.json").read_text())
    assert rec["kind"] == "ensemble" and rec["rule"] == "voting" and rec["left_out"] == []
    assert [m["seed"] for m in rec["members"]] == [0, 1]
    assert all(isinstance(m["val_sharpe"], float) for m in rec["members"])
    ref_val = run_policy(build_ensemble("voting", [load_run(group / f"s{s}") for s in (0, 1)]),
                         "btc1h", "val", env_settings=load_run(group / "s0").trained_costs)  # fmt: skip
    assert rec["ensemble_val"]["split"] == "val"
    assert rec["ensemble_val"]["sharpe"] == pytest.approx(ref_val.summary()["sharpe"])
    d = _predict(root, capsys)
    assert d["model"] == "ens@v1" and set(d["members"]) == {"s0", "s1"}
    # the ensemble computed independently: SB3-loaded members, backtest.ensemble, same obs
    specs = [load_run(group / f"s{s}", label=f"s{s}") for s in (0, 1)]
    ref = build_ensemble("voting", specs)
    candles = load_candles(CANDLES).iloc[-4 * serve_lookback(rec) :]  # predict's default tail
    market = serve_market(candles, load_funding("btc1h"), rec, ref.normaliser)
    t = market.n_bars - 1
    obs = market.observation(t, account_slots(float(market.close[t])))[None, :]
    ref.policy.bind(market, spaces.Discrete(3))
    action = int(np.asarray(ref.policy.act(obs, np.array([t])))[0])
    assert d["action"] == action and d["target_position"] == float(action - 1)
    assert d["target_position"] == vote(np.array([[d["members"]["s0"]], [d["members"]["s1"]]]))[0]
    state_dir = tmp_path / "paper"
    argv = ["--model", "ens", "--root", str(root), "--candles", CANDLES, "--replay"]
    assert paper_main([*argv, "--state", str(state_dir)]) == 0
    state = json.loads((state_dir / "state.json").read_text())
    assert state["version"] == "v1" and state["decisions"][-1]["action"] == d["action"]


def _copy(group: Path, tmp_path: Path) -> Path:
    g = tmp_path / "g"
    shutil.copytree(group, g, ignore=shutil.ignore_patterns("tb", "checkpoints", "eval"))
    return g


def _refused(g: Path, tmp_path: Path, capsys, *extra: str) -> str:
    root = tmp_path / "models"
    assert _promote(g, root, "--ensemble", "voting", *extra) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert not (root / "ens").exists()  # nothing written to the registry
    return err[0]


@pytest.mark.slow
def test_mismatched_member_is_one_line(group: Path, tmp_path: Path, capsys) -> None:
    g = _copy(group, tmp_path)
    cfg = yaml.safe_load((g / "s1" / "config.yaml").read_text())
    cfg["env"]["decision_interval"] = 4  # acts on another clock: the ensemble cannot poll it
    (g / "s1" / "config.yaml").write_text(yaml.safe_dump(cfg))
    err = _refused(g, tmp_path, capsys)
    assert "decision_interval=4" in err and "'s1'" in err


@pytest.mark.slow
def test_missing_or_failed_member_names_the_seed(group: Path, tmp_path: Path, capsys) -> None:
    g = _copy(group, tmp_path)
    for f in ("best_model.zip", "final_model.zip"):
        (g / "s1" / f).unlink()
    err = _refused(g, tmp_path, capsys)
    assert "seed 1 no model" in err and "--allow-failed-members" in err
    # a third seed (a copy of seed 0) and seed 1 marked failed: refused, then opted in
    shutil.copytree(g / "s0", g / "s2")
    gj = json.loads((g / "group.json").read_text())
    gj["seeds"], gj["runs"] = [0, 1, 2], {**gj["runs"], "2": "s2"}
    (g / "group.json").write_text(json.dumps(gj))
    summary = json.loads((g / "summary.json").read_text())
    summary["per_seed"]["1"] = {"status": "failed", "run_dir": "s1", "error": "killed"}
    summary["per_seed"]["2"] = {**summary["per_seed"]["0"], "run_dir": "s2"}
    (g / "summary.json").write_text(json.dumps(summary))
    assert "seed 1 failed (killed)" in _refused(g, tmp_path, capsys)
    root = tmp_path / "models"
    assert _promote(g, root, "--ensemble", "disagreement", "--allow-failed-members") == 0
    rec = json.loads((root / "ens" / "v1" / "registry.json").read_text())
    assert [m["seed"] for m in rec["members"]] == [0, 2]
    assert rec["left_out"] == [{"seed": 1, "reason": "failed (killed)"}]
