"""backtest.runner / policies: backtests stepped through the real TradingEnv.

Unit tests build a synthetic MarketData (conftest candles); the last tests use the shipped
btcusdt_1h data and are marked slow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest.baselines import MomentumPolicy, PolicySpec, baseline, position_to_action
from backtest.runner import CostOverrides, run_env, run_policy
from envs import MarketData, TradingEnv

FEE, SLIP = 10.0, 2.0  # bps
COST = (FEE + SLIP) / 1e4  # entry cost as a fraction of the equity traded
WINDOW = 4


def _market(candles: pd.DataFrame) -> MarketData:
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((len(candles), 2))
    return MarketData.build(candles, feats, None, window=WINDOW, feature_names=("a", "b"))


def _env(market: MarketData, **kw) -> TradingEnv:
    opts = dict(fee_bps=FEE, slippage_bps=SLIP, funding=False, max_drawdown=None)
    opts.update(kw)
    return TradingEnv(market, (0, market.n_bars), **opts)


def _run(name: str, market: MarketData, seed: int = 0, **kw):
    return run_env(baseline(name, seed), _env(market, **kw), name, periods_per_year=8760)


def test_buy_and_hold_equity_is_price_ratio_less_entry_cost(make_candles):
    c = make_candles(300, seed=2)
    market = _market(c)
    bt = _run("buy_and_hold", market)
    # First decision bar: the first with a full window (row WINDOW - 1); fill at the next open.
    first_fill = c["open"].iloc[WINDOW]
    last_close = c["close"].iloc[-1]
    # Units = 1 / fill (sized on the pre-cost equity 1.0); the cost 12 bps of 1.0 leaves cash.
    assert bt.equity[-1] == pytest.approx(last_close / first_fill - COST, rel=1e-12)
    assert len(bt) == 300 - WINDOW
    assert bt.timestamps[0] == c.index[WINDOW].value
    assert bt.fees.sum() == pytest.approx(FEE / 1e4) and bt.slippage.sum() == pytest.approx(
        SLIP / 1e4
    )
    np.testing.assert_array_equal(bt.positions, 1.0)
    # every bar after the first: equity = close / fill - cost
    np.testing.assert_allclose(
        bt.equity[1:], c["close"].to_numpy()[WINDOW:] / first_fill - COST, rtol=1e-12
    )
    assert _run("flat", market).equity[-1] == 1.0


def test_gap_runs_are_stitched_multiplicatively(make_candles):
    c = make_candles(200, seed=3)
    c = c.drop(c.index[100:103])  # a 3-hour gap: two segments
    market = _market(c)
    bt = _run("buy_and_hold", market)
    cl, op = c["close"].to_numpy(), c["open"].to_numpy()
    # segment 1: rows 0..99, decisions from row 3, held rows 4..99; segment 2: rows 100..196,
    # held rows 104..196 (a new window must fill after the gap).
    g1 = cl[99] / op[4] - COST
    g2 = cl[-1] / op[104] - COST
    assert bt.equity[-1] == pytest.approx(g1 * g2, rel=1e-12)
    np.testing.assert_array_equal(bt.segment_starts, [0, 96])
    assert len(bt) == 96 + 93
    # the second entry's cost is paid on the carried equity
    assert bt.fees[96] == pytest.approx(g1 * FEE / 1e4, rel=1e-12)
    assert bt.equity[97] == pytest.approx(g1 * (cl[104] / op[104] - COST), rel=1e-12)
    assert bt.meta["n_episodes"] == 2


def test_runner_is_deterministic(make_candles):
    market = _market(make_candles(400, seed=4))
    a, b = _run("random", market, seed=7), _run("random", market, seed=7)
    for key in ("timestamps", "equity", "positions", "fees", "slippage", "funding"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    assert not np.array_equal(a.positions, _run("random", market, seed=8).positions)
    assert set(np.unique(a.positions)) == {-1.0, 0.0, 1.0}
    m1, m2 = _run("momentum", market), _run("momentum", market)
    np.testing.assert_array_equal(m1.equity, m2.equity)


def test_continuous_env_baselines(make_candles):
    market = _market(make_candles(120, seed=5))
    bt = _run("buy_and_hold", market, action="continuous")
    ref = _run("buy_and_hold", market)
    np.testing.assert_allclose(bt.equity, ref.equity, rtol=1e-12)
    assert position_to_action(
        np.array([1.0, -1.0]), TradingEnv(market, action="continuous").action_space
    ).shape == (2, 1)


def test_momentum_is_causal(make_candles):
    c = make_candles(300, seed=6)
    future = c.copy()
    future.iloc[150:, :4] *= 1.5  # change everything after bar 149
    m1, m2 = MomentumPolicy(lookback=24), MomentumPolicy(lookback=24)
    env1, env2 = _env(_market(c)), _env(_market(future))
    m1.bind(env1.market, env1.action_space)
    m2.bind(env2.market, env2.action_space)
    np.testing.assert_array_equal(m1.signal[:150], m2.signal[:150])
    assert not np.array_equal(m1.signal[150:], m2.signal[150:])
    # signal = sign of the trailing 24-bar return, 0 before 24 bars exist
    cl = c["close"].to_numpy()
    assert m1.signal[23] == 0 and m1.signal[24] == np.sign(cl[24] / cl[0] - 1)


def test_ruined_account_is_padded_flat(make_candles):
    c = make_candles(200, seed=7, drift=-0.05)  # price falls ~e^-10: a long is ruined
    market = _market(c)
    bt = _run("buy_and_hold", market)
    flat = _run("flat", market)
    assert bt.meta["ruined_at"] is not None
    np.testing.assert_array_equal(bt.timestamps, flat.timestamps)  # same bars as everyone
    k = int(np.searchsorted(bt.timestamps, bt.meta["ruined_at"])) + 1
    assert np.all(bt.positions[k:] == 0) and np.all(bt.equity[k + 1 :] == bt.equity[k])
    assert bt.equity[-1] <= 0.01


def test_unknown_baseline():
    with pytest.raises(ValueError, match="unknown baseline 'hodl'"):
        baseline("hodl")


# --- the shipped data ------------------------------------------------------------------------


@pytest.mark.slow
def test_buy_and_hold_2024_matches_raw_closes():
    """B&H over test (2024) from the runner vs the raw csv read with pandas."""
    raw = pd.read_csv(Path(__file__).resolve().parent.parent / "data" / "btcusdt_1h.csv.gz")
    raw["timestamp"] = pd.to_datetime(raw["timestamp"], utc=True)
    y = raw[(raw["timestamp"] >= "2024-01-01") & (raw["timestamp"] < "2025-01-01")].reset_index(
        drop=True
    )
    assert len(y) == 366 * 24  # 2024 has no gap in the shipped file
    bt = run_policy(
        "buy_and_hold",
        "btc1h",
        "test",
        costs=CostOverrides(fee_bps=FEE, slippage_bps=SLIP, funding=False),
    )
    # decision at 2024-01-01 00:00's close, fill at the 01:00 open, marked to the last close
    assert len(bt) == len(y) - 1
    assert bt.timestamps[0] == y["timestamp"].iloc[1].value
    fill, last = y["open"].iloc[1], y["close"].iloc[-1]
    assert bt.equity[-1] == pytest.approx(last / fill - COST, rel=1e-12)
    # Sharpe of the held bars: first bar close/open, then close-to-close
    r = np.concatenate([[y["close"].iloc[1] / fill - 1], y["close"].pct_change().to_numpy()[2:]])
    sharpe_raw = r.mean() / r.std(ddof=1) * np.sqrt(8760)
    summary = bt.summary()
    # equity = close/fill - cost: each return is scaled by ~(1 + cost / ratio); ratio >= ~0.9
    assert summary["sharpe"] == pytest.approx(sharpe_raw, rel=2e-3)
    assert summary["total_return"] == pytest.approx(last / fill - 1 - COST, rel=1e-12)


@pytest.mark.slow
def test_cli_writes_every_output(tmp_path):
    from evaluate.cli import main

    out = tmp_path / "ev"
    assert (
        main(
            [
                "--env",
                "btc1h",
                "--split",
                "test",
                "--out",
                str(out),
                "--n-boot",
                "100",
                "--seeds",
                "0",
                "1",
            ]
        )
        == 0
    )
    for name in (
        "metrics.json",
        "metrics.csv",
        "report.html",
        "equity.png",
        "drawdown.png",
        "rolling_sharpe.png",
        "positions.png",
    ):
        assert (out / name).stat().st_size > 0, name
    data = json.loads((out / "metrics.json").read_text())
    assert set(data["policies"]) == {"buy_and_hold", "flat", "random_s0", "random_s1", "momentum",
                                     "tsmom_long_flat", "tsmom_long_short", "trend_ensemble",
                                     "vol_target"}  # fmt: skip
    assert "random" in data["aggregates"]
    assert data["policies"]["buy_and_hold"]["n_bars"] == 8783
    assert data["context"]["split"] == "test"


def test_policy_spec_defaults():
    spec = PolicySpec("x", "x", baseline("flat"))
    assert spec.env_settings == {} and spec.normaliser is None


# --- the fast per-bar policy call equals SB3's predict / the classifier's own argmax -------------


def _transformer_market(candles: pd.DataFrame, window: int = 16) -> MarketData:
    feats = np.random.default_rng(5).standard_normal((len(candles), 3))
    return MarketData.build(candles, feats, None, window=window, feature_names=("a", "b", "c"))


def _manual_rollout(env: TradingEnv, act) -> tuple[list, list]:
    """Every sequential episode by hand: (actions, equity) with ``act(obs[None]) -> (1, ...)``."""
    actions, equity = [], []
    for _ in env.episode_starts():
        obs, _ = env.reset(options={"sequential": True})
        done = False
        while not done:
            a = act(obs[None, :])
            actions.append(np.asarray(a)[0])
            obs, _r, term, trunc, info = env.step(np.asarray(a)[0])
            equity.append(info["equity"])
            done = term or trunc
    return actions, equity


def test_fast_sb3_actions_equal_predict_bar_by_bar(make_candles):
    torch = pytest.importorskip("torch")
    from stable_baselines3 import PPO, SAC

    from agents.acting.loading import SB3Policy
    from policies import TransformerExtractor

    market = _transformer_market(make_candles(420, seed=8))
    env = _env(market)
    model = PPO(
        "MlpPolicy",
        env,
        n_steps=32,
        batch_size=32,
        seed=0,
        device="cpu",
        policy_kwargs=dict(
            features_extractor_class=TransformerExtractor,
            features_extractor_kwargs=dict(window=16, n_features=3),
            net_arch=dict(pi=[], vf=[16]),
            ortho_init=False,
        ),
    )
    with torch.no_grad():  # a far-from-uniform policy, so the argmax really varies
        model.policy.action_net.weight.mul_(200.0)
    policy = SB3Policy(model)
    bt = run_env(policy, env, "ppo", periods_per_year=8760)
    assert policy.actor.direct  # the module-by-module path, not the fallback
    actions, equity = _manual_rollout(
        _env(market), lambda o: model.predict(o, deterministic=True)[0]
    )
    assert len(actions) > 300 and len(set(int(a) for a in actions)) == 3
    np.testing.assert_array_equal(bt.equity[1:], equity)  # same actions -> same equity, bar by bar
    obs = (
        np.random.default_rng(3)
        .standard_normal((50, env.observation_space.shape[0]))
        .astype(np.float32)
    )
    np.testing.assert_array_equal(
        policy.act(obs, np.arange(50)), model.predict(obs, deterministic=True)[0]
    )
    obs_t, _ = model.policy.obs_to_tensor(obs)
    with torch.no_grad():
        expected = model.policy.get_distribution(obs_t).distribution.probs.numpy()
    np.testing.assert_array_equal(
        policy.action_probs(obs, np.arange(50)), expected.astype(np.float64)
    )

    cont = _env(market, action="continuous")
    sac = SAC("MlpPolicy", cont, buffer_size=10, seed=0, device="cpu")
    fast = SB3Policy(sac)
    bt = run_env(fast, cont, "sac", periods_per_year=8760)
    _, equity = _manual_rollout(
        _env(market, action="continuous"), lambda o: sac.predict(o, deterministic=True)[0]
    )
    np.testing.assert_array_equal(bt.equity[1:], equity)
    np.testing.assert_array_equal(
        fast.act(obs, np.arange(50)), sac.predict(obs, deterministic=True)[0]
    )


def test_fast_classifier_actions_equal_its_corrected_argmax(make_candles):
    torch = pytest.importorskip("torch")
    from agents.acting.loading import ClassifierPolicy
    from policies import make_config
    from supervised.checkpoint import LoadedClassifier
    from supervised.labels import LabelSpec
    from supervised.logit_correction import LogitCorrection
    from supervised.model import Classifier

    torch.manual_seed(0)
    clf = Classifier(make_config("cpu", window=16, n_features=3))
    with torch.no_grad():
        clf.head.weight.mul_(100.0)
    loaded = LoadedClassifier(
        clf.eval(), LogitCorrection(np.array([0.3, 0.0, -0.2])), LabelSpec(), "core17", 16, {}
    )
    market = _transformer_market(make_candles(400, seed=9))
    env = _env(market)
    bt = run_env(ClassifierPolicy(loaded), env, "clf", periods_per_year=8760)
    actions, equity = _manual_rollout(
        _env(market), lambda o: loaded.corrected_logits(torch.as_tensor(o)).argmax(-1).numpy()
    )
    assert len(actions) > 300 and len(set(int(a) for a in actions)) >= 2
    np.testing.assert_array_equal(bt.equity[1:], equity)
