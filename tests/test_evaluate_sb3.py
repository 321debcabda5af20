"""backtest.baselines.load_run on an SB3 run folder, stepped by the runner on a synthetic market."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agents.acting.loading import load_run
from backtest.runner import run_env
from envs import MarketData, TradingEnv

pytest.importorskip("stable_baselines3")


def _env(candles) -> TradingEnv:
    rng = np.random.default_rng(0)
    market = MarketData.build(
        candles,
        rng.standard_normal((len(candles), 3)),
        None,
        window=8,
        feature_names=("a", "b", "c"),
    )
    return TradingEnv(
        market, (0, market.n_bars), fee_bps=10.0, slippage_bps=2.0, funding=False, max_drawdown=None
    )


def test_sb3_run_folder_backtest_matches_manual_rollout(tmp_path, make_candles):
    from stable_baselines3 import PPO

    from agents.acting.safe_load import config_from_saved
    from agents.training.models import policy_kwargs

    env = _env(make_candles(150, seed=1))
    run = tmp_path / "20250101-000000_s3"
    run.mkdir()
    cfg = {
        "algo": "ppo",
        "seed": 3,
        "env": {
            "feature_set": "core17",
            "window": 8,
            "action": "discrete",
            "fee_bps": 4.0,
            "slippage_bps": 1.0,
            "funding": True,
        },
    }
    (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    # the project's policy (transformer extractor): the loader rebuilds it from config.yaml
    kwargs = policy_kwargs(config_from_saved(cfg, "test"), n_features=3)
    model = PPO(
        "MlpPolicy", env, n_steps=32, batch_size=32, seed=0, device="cpu", policy_kwargs=kwargs
    )
    model.save(run / "final_model.zip")

    spec = load_run(run)
    assert (spec.name, spec.method, spec.seed) == ("ppo_s3", "ppo", 3)
    assert spec.env_settings == {"feature_set": "core17", "window": 8, "action": "discrete"}
    assert spec.trained_costs == {"fee_bps": 4.0, "slippage_bps": 1.0, "funding": True}
    assert load_run(f"{run}/final_model.zip", label="mine").method == "mine"

    bt = run_env(spec.policy, env, spec.name, periods_per_year=8760)
    # the same rollout by hand: deterministic actions from the model that was saved
    loaded = model
    obs, _ = env.reset(options={"sequential": True})
    equity, done = [], False
    while not done:
        action, _ = loaded.predict(obs, deterministic=True)
        obs, _r, term, trunc, info = env.step(action)
        equity.append(info["equity"])
        done = term or trunc
    np.testing.assert_array_equal(bt.equity[1:], equity)


def test_load_run_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        load_run(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="neither best_model.zip nor final_model.zip"):
        load_run(tmp_path)
