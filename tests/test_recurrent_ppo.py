"""Recurrent PPO (sb3-contrib's RecurrentPPO) as one entry of ``agents.algorithms``.

A tiny real run (256 steps) trains through ``python -m agents recurrent_ppo``, loads without
unpickling, and is stepped with its LSTM state threaded: equal to SB3's own ``predict(state,
episode_start)`` bar for bar, the state restarted at every data segment by the runner, kept per
member by an ensemble, warmed up by ``agents.predict`` (its decision equals the runner's on the
same bar) and kept between ticks by ``agents.paper`` (its account equals the runner's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from stable_baselines3.common.base_class import BaseAlgorithm

from agents.__main__ import main
from agents.acting.loading import RecurrentSB3Policy, load_run
from agents.acting.safe_load import config_from_saved
from agents.algorithms import ALGOS
from agents.learners import LEARNERS
from agents.resume.checkpoints import AtomicCheckpointCallback, latest_checkpoint
from agents.resume.state import LSTM_KEYS, capture_lstm, latest_state_path, load, restore
from agents.serving.model_registry import promote, resolve
from agents.serving.paper_trading import tick
from agents.serving.prediction import decide, serve_market
from agents.training.models import build_model, load_model
from agents.training.vec_env import SB3BatchedTradingEnv
from backtest.ensemble import build_ensemble
from backtest.policy import PolicySpec, initial_state, is_stateful
from backtest.runner import run_env, run_policy
from envs import MarketData
from envs.data import load_candles, load_funding
from envs.trading_env import TradingEnv
from tests.conftest import synthetic_candles
from tests.test_resume_kill import (
    _assert_same_weights,
    _checkpoint_steps,
    _kill_when,
    _metrics,
    _run,
    _tb_logged_past,
    _tb_scalars,
)

pytestmark = pytest.mark.slow  # one tiny training run (~30 s on 2 cores) serves every test
RECORD = {"market": "btc1h", "feature_set": "flagtrader60", "window": 16}
K = 4  # the config's decision_interval: a decision every 4 bars


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("recurrent")
    cfg = d / "tiny.yml"
    cfg.write_text(yaml.safe_dump({"train": {"eval_freq": 10**6, "checkpoint_freq": 10**6}}))
    args = ["recurrent_ppo", "--env", "btc1h", "--timesteps", "256", "--n-envs", "2"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLTRADE_NO_LEDGER", "1")
        out = main([*args, "--seed", "1", "--config", str(cfg), "--run-dir", str(d / "run"),
                    "--no-progress"])  # fmt: skip
    return out


@pytest.fixture(scope="module")
def registry(run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    promote(run, "rec", root)
    return root


def test_a_tiny_run_trains_loads_safely_and_evaluates(run: Path) -> None:
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["algo"] == "recurrent_ppo" and config["recurrent_ppo"]["batch_size"] == 2048
    assert "-m agents recurrent_ppo --env btc1h" in (run / "command.txt").read_text()
    assert list((run / "tb").glob("recurrent_ppo_1/*tfevents*"))
    metrics = json.loads((run / "metrics.json").read_text())
    best = metrics["policies"]["recurrent_ppo_best"]["sharpe"]
    spec = load_run(run)  # every pickled entry of the zip rebuilt from config.yaml
    assert spec.method == "recurrent_ppo" and isinstance(spec.policy, RecurrentSB3Policy)
    assert is_stateful(spec.policy)
    assert run_policy(spec, "btc1h", "val").summary()["sharpe"] == pytest.approx(best)
    assert LEARNERS["recurrent_ppo"].val_metrics(run)["val_sharpe"] == pytest.approx(best)


def _gap_market(spec: PolicySpec) -> object:
    """~800 hourly bars around a real data gap of btc1h: two segments."""
    candles = load_candles("btc1h")
    gap = int(np.flatnonzero(np.diff(candles.index.values) > np.timedelta64(1, "h"))[-2])
    part = candles.iloc[gap - 400 : gap + 400]
    return serve_market(part, load_funding("btc1h"), RECORD, spec.normaliser)


def _sb3_positions(model: BaseAlgorithm, env: TradingEnv, reset_every_step: bool) -> list:
    """The reference: SB3's own predict with the LSTM state, episode_start at each episode's
    first decision (or at every decision: no memory), the action held K bars."""
    positions = []
    for _ in env.episode_starts():
        obs, _ = env.reset(options={"sequential": True})
        state, first, done, held = None, True, False, 0
        while not done:
            if held % K == 0:
                action, state = model.predict(obs[None, :], state=state, deterministic=True,
                                              episode_start=np.array([first or reset_every_step]))  # fmt: skip
                first = False
            held += 1
            obs, _, term, trunc, info = env.step(int(action[0]))
            positions.append(info["position"])
            done = term or trunc
    return positions


def test_the_runner_threads_the_lstm_state_and_restarts_it_at_each_segment(run: Path) -> None:
    spec = load_run(run)
    market = _gap_market(spec)
    bt = run_env(spec.policy, TradingEnv(market, None, max_drawdown=None), "rec",
                 periods_per_year=8760, decision_interval=K)  # fmt: skip
    assert bt.meta["n_episodes"] == 2
    model = spec.policy.model
    ref = _sb3_positions(model, TradingEnv(market, None, max_drawdown=None), False)
    np.testing.assert_array_equal(bt.positions, ref)
    forgetful = _sb3_positions(model, TradingEnv(market, None, max_drawdown=None), True)
    assert not np.array_equal(bt.positions, forgetful)  # the state changes decisions


def test_an_ensemble_carries_the_recurrent_members_state(run: Path) -> None:
    a, b, c = (load_run(run) for _ in range(3))
    ens = build_ensemble("voting", [a, b, c])
    assert is_stateful(ens.policy) and len(initial_state(ens.policy, 1)) == 3
    market = _gap_market(a)
    runs = [
        run_env(
            p,
            TradingEnv(market, None, max_drawdown=None),
            "x",
            periods_per_year=8760,
            decision_interval=K,
        )  # fmt: skip
        for p in (ens.policy, a.policy)
    ]
    np.testing.assert_array_equal(runs[0].positions, runs[1].positions)  # 3 equal votes


class Recorder:
    """The evaluated policy, recording each decision: bar, account slots, action."""

    def __init__(self, inner: RecurrentSB3Policy) -> None:
        self.inner, self.rows = inner, []

    def bind(self, market: object, space: object) -> None:
        self.inner.bind(market, space)

    def act(self, obs: np.ndarray, bars: np.ndarray) -> np.ndarray:
        raise AssertionError("stepped through act_state")

    def initial_state(self, n: int) -> object:
        return self.inner.initial_state(n)

    def act_state(self, obs: np.ndarray, bars: np.ndarray, state: object) -> tuple:
        a, state = self.inner.act_state(obs, bars, state)
        self.rows.append((int(bars[0]), obs[0, -4:].copy(), int(a[0])))
        return a, state


def _series(n_bars: int) -> tuple[pd.DataFrame, pd.Series]:
    return load_candles("btc1h").iloc[-1000 : -1000 + n_bars], load_funding("btc1h")


def test_predict_warms_the_state_up_and_decides_as_the_runner(registry: Path) -> None:
    vdir, record = resolve("rec", registry)
    spec = load_run(vdir)
    candles, funding = _series(330)
    market = serve_market(candles, funding, record, spec.normaliser)
    rec = Recorder(spec.policy)
    run_env(rec, TradingEnv(market, None, max_drawdown=None), "rec", periods_per_year=8760,
            decision_interval=K)  # fmt: skip
    assert len(rec.rows) >= 30
    first = rec.rows[0][0]
    checked = [rec.rows[i] for i in (0, 1, 7, 15, len(rec.rows) - 1)]
    for bar, acct, action in checked:  # the prefix ends at the decision bar: predict's last bar
        prefix = candles.iloc[: bar + 1]
        d = decide("rec", prefix, now=prefix.index[-1] + pd.Timedelta("1h"), root=registry,
                   funding=funding, account=acct)  # fmt: skip
        assert d.action == action, f"bar {bar}"
        assert d.memory is not None and f"over {(bar - first) // K} decision(s)" in d.memory
    actions = {a for _, _, a in rec.rows}
    assert len(actions) >= 2, actions  # a policy that acts, so equality says something


def _ticks(root: Path, state_dir: Path, candles: pd.DataFrame, funding: pd.Series,
           bars: list[int]) -> dict:  # fmt: skip
    for b in bars:
        visible = candles.iloc[: b + 1]
        tick("rec", visible, state_dir, now=visible.index[-1] + pd.Timedelta("1h"), root=root,
             funding=funding)  # fmt: skip
    return json.loads((state_dir / "state.json").read_text())


def test_paper_keeps_the_state_between_ticks_and_equals_the_runner(registry: Path,
                                                                     tmp_path: Path) -> None:  # fmt: skip
    candles, funding = _series(300)
    bars = list(range(200, 241))
    state = _ticks(registry, tmp_path / "p", candles, funding, bars)
    log = state["decisions"]
    assert len(log) == len(bars) and sum(not d.get("held") for d in log) == 11
    assert state["memory"]["after_bar_utc"] == log[40]["bar_open_utc"]
    assert [np.shape(a["values"]) for a in state["memory"]["arrays"]] == [(64,), (64,)]
    # the reference: evaluate's runner on the same bars, its episode starting at the first tick
    vdir, record = resolve("rec", registry)
    spec = load_run(vdir)
    market = serve_market(candles, funding, record, spec.normaliser)
    rec = Recorder(spec.policy)
    run_env(rec, TradingEnv(market, (200, 242), max_drawdown=None), "rec",
            periods_per_year=8760, decision_interval=K)  # fmt: skip
    assert [a for _, _, a in rec.rows] == [d["action"] for d in log if not d.get("held")]
    again = _ticks(registry, tmp_path / "p", candles, funding, [241, 244])  # a restart goes on
    assert again["memory"]["after_bar_utc"] == again["decisions"][44]["bar_open_utc"]
    assert again["decisions"][41]["held"] and again["memory"] != state["memory"]


def test_paper_refuses_a_damaged_memory_and_restarts_it_for_a_new_version(
    registry: Path, tmp_path: Path
) -> None:
    candles, funding = _series(260)
    d = tmp_path / "p"
    _ticks(registry, d, candles, funding, [200])
    state = json.loads((d / "state.json").read_text())
    state["memory"]["arrays"][0]["values"] = state["memory"]["arrays"][0]["values"][:10]
    (d / "state.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"damaged paper state \(.*memory: array 0 is not"):
        _ticks(registry, d, candles, funding, [204])
    state["memory"] = {**state["memory"], "version": "v0"}  # kept by another version
    (d / "state.json").write_text(json.dumps(state))
    after = _ticks(registry, d, candles, funding, [204])
    assert after["memory_restarted"].startswith("version v0 -> ")


# --------------------------------------------------------------------------- resume
def _synthetic_market() -> MarketData:
    candles = synthetic_candles(300, seed=4)
    feats = np.random.default_rng(1).standard_normal((len(candles), 3))
    return MarketData.build(candles, feats, None, window=8, feature_names=("a", "b", "c"))


def _weights_equal(a: BaseAlgorithm, b: BaseAlgorithm) -> bool:
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resume_restores_the_lstm_state_and_learns_bit_identical(tmp_path: Path) -> None:
    saved = {"algo": "recurrent_ppo", "env_name": "btc1h", "seed": 5,
             "env": {"window": 8, "n_envs": 2},
             "recurrent_ppo": {"n_steps": 16, "batch_size": 32, "n_epochs": 2}}  # fmt: skip
    cfg = config_from_saved(saved, "test")
    market = _synthetic_market()

    def env(seed: int) -> SB3BatchedTradingEnv:
        return SB3BatchedTradingEnv(market, 2, (0, market.n_bars), seed=seed, funding=False,
                                    episode_length=40)  # fmt: skip

    def checkpointer(run: Path) -> AtomicCheckpointCallback:
        cb = AtomicCheckpointCallback(run / "checkpoints", save_freq=32)
        cb.state_callbacks = [cb]
        return cb

    whole = build_model(cfg, env(cfg.seed), 3, tensorboard_log=None)
    whole.learn(96, callback=checkpointer(tmp_path / "whole"))
    first = build_model(cfg, env(cfg.seed), 3, tensorboard_log=None)
    cb = checkpointer(tmp_path / "killed")
    first.learn(32, callback=cb)
    cb.save()
    state = load(latest_state_path(tmp_path / "killed"))
    assert np.abs(state["lstm_pi_h"]).sum() > 0  # a live state, not the zeros a load makes

    def resumed(keep_lstm: bool) -> BaseAlgorithm:
        torch.manual_seed(1234)  # a new process: every RNG elsewhere
        path, steps = latest_checkpoint(tmp_path / "killed")
        model = load_model("recurrent_ppo", path, env=env(777), cfg=cfg, n_features=3)
        cb2 = checkpointer(tmp_path / f"resumed{keep_lstm}")
        arrays = state if keep_lstm else {k: v for k, v in state.items() if k not in LSTM_KEYS}
        if keep_lstm:
            restore(model, cb2.state_callbacks, arrays)
        else:  # what a resume without the LSTM state would do: the zeros of a fresh load
            restore(model, cb2.state_callbacks, {**arrays, **_zeros(model)})
        model.learn(64, callback=cb2, reset_num_timesteps=False)
        return model

    assert _weights_equal(resumed(True), whole)
    assert not _weights_equal(resumed(False), whole)  # the hidden state is part of the run


def _zeros(model: BaseAlgorithm) -> dict[str, np.ndarray]:
    return {k: np.zeros_like(v) for k, v in capture_lstm(model).items()}


def test_a_sigkilled_recurrent_run_resumes_bit_identical(tmp_path: Path) -> None:
    cfg = tmp_path / "tiny.yml"
    cfg.write_text(yaml.safe_dump({
        "env": {"n_envs": 4, "episode_length": 64},
        "recurrent_ppo": {"n_steps": 32, "batch_size": 128, "n_epochs": 1},
        "train": {"eval_freq": 256, "n_eval_episodes": 2, "checkpoint_freq": 128,
                  "torch_threads": 1}}))  # fmt: skip
    # daily bars: a 364-row val split keeps the validations short
    base = ["--env", "btc1d", "--seed", "5", "--timesteps", "384", "--config", str(cfg)]
    cmd = [sys.executable, *ALGOS["recurrent_ppo"].command, "--no-progress"]
    whole, killed, log = tmp_path / "whole", tmp_path / "killed", tmp_path / "log.txt"
    assert _run([*cmd, *base, "--run-dir", str(whole)], log).returncode == 0, log.read_text()
    _kill_when([*cmd, *base, "--run-dir", str(killed)], log,
               lambda: _checkpoint_steps(killed) >= 256 and _tb_logged_past(killed, 256))  # fmt: skip
    assert not (killed / "final_model.zip").exists()
    with np.load(killed / "checkpoints" / "state_256_steps.npz") as s:
        assert set(LSTM_KEYS) <= set(s.files)
    assert _run([*cmd, "--resume", str(killed)], log).returncode == 0, log.read_text()[-2000:]
    assert _metrics(killed) == _metrics(whole)
    _assert_same_weights(killed / "final_model.zip", whole / "final_model.zip")
    _assert_same_weights(killed / "best_model.zip", whole / "best_model.zip")
    scalars = _tb_scalars(killed / "tb")
    assert scalars == _tb_scalars(whole / "tb")  # the same points, none logged twice
    assert {"train/value_loss", "trading/policy_entropy"} <= scalars.keys()
