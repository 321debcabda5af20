"""NaN guards: training that diverges stops at once with one line; NaN weights are refused.

Divergence is provoked for real (an absurd learning rate), not mocked.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from agents import ppo
from agents.acting.safe_load import check_weights_finite, config_from_saved
from agents.training.models import build_model
from agents.training.nan_guard import NanGuardCallback, NonFiniteError
from agents.training.vec_env import SB3BatchedTradingEnv
from envs import MarketData
from tests.conftest import synthetic_candles

WINDOW = 8


def _tiny(algo: str, lr: float):
    saved = {
        "algo": algo,
        "env_name": "btc1h",
        "seed": 0,
        "env": {
            "window": WINDOW,
            "n_envs": 2,
            "action": "discrete" if algo == "ppo" else "continuous",
        },
        algo: {"learning_rate": lr}
        | (
            {"n_steps": 16, "batch_size": 16, "n_epochs": 2}
            if algo == "ppo"
            else {"learning_starts": 8, "batch_size": 16, "buffer_size": 500}
        ),
    }
    if algo == "sac":
        saved["policy"] = {"net_arch": [16], "share_features_extractor": False}
    cfg = config_from_saved(saved, "test")
    candles = synthetic_candles(200, seed=2)
    feats = np.random.default_rng(0).standard_normal((len(candles), 3))
    market = MarketData.build(candles, feats, None, window=WINDOW, feature_names=("a", "b", "c"))
    env = SB3BatchedTradingEnv(
        market, 2, (0, market.n_bars), seed=0, funding=False, action=cfg.env.action
    )
    return build_model(cfg, env, 3, tensorboard_log=None)


@pytest.mark.parametrize("algo", ["ppo", "sac"])
def test_absurd_learning_rate_stops_with_one_line(algo):
    model = _tiny(algo, lr=1e30)
    with pytest.raises(NonFiniteError) as exc:
        model.learn(400, callback=NanGuardCallback())
    msg = str(exc.value)
    assert "\n" not in msg
    assert "training diverged at step" in msg and "learning_rate 1e+30" in msg
    assert "no checkpoint was written" in msg


def test_sane_learning_rate_passes_the_guard():
    model = _tiny("ppo", lr=3e-4)
    model.learn(64, callback=NanGuardCallback())
    assert model.num_timesteps >= 64


def test_injected_nan_weight_is_named(tmp_path):
    model = _tiny("ppo", lr=3e-4)
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(None, []))
    (tmp_path / "checkpoints").mkdir()
    model.save(tmp_path / "checkpoints" / "model_32_steps.zip")
    (tmp_path / "checkpoints" / "latest.json").write_text(
        '{"num_timesteps": 32, "model": "model_32_steps.zip", "vecnormalize": null}'
    )
    guard = NanGuardCallback(tmp_path)
    guard.init_callback(model)
    with __import__("torch").no_grad():
        model.policy.action_net.weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"weight 'action_net.weight' is NaN/inf") as exc:
        guard.check()
    assert "the last good checkpoint is" in str(exc.value) and "model_32_steps.zip" in str(
        exc.value
    )


def test_supervised_absurd_learning_rate_stops_with_one_line(tmp_path, capsys):
    from supervised.train import main

    run = tmp_path / "run"
    argv = ["--env", "btc1h", "--epochs", "1", "--max-train-samples", "400"]
    argv += ["--max-val-bars", "300", "--threads", "1", "--lr", "1e30", "--run-dir", str(run)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "training diverged at batch" in lines[0], lines
    assert "learning rate 1e+30" in lines[0]
    assert not (run / "model.pt").exists()


@pytest.mark.slow
def test_ppo_cli_divergence_leaves_the_last_good_checkpoint(tmp_path, capsys):
    cfg = tmp_path / "nan.yml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "env": {"n_envs": 4, "episode_length": 64},
                "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 2, "learning_rate": 1e30},
                "train": {"eval_freq": 128, "n_eval_episodes": 2, "checkpoint_freq": 128},
            }
        )
    )
    run = tmp_path / "run"
    argv = ["--env", "btc1h", "--timesteps", "512", "--no-progress", "--config", str(cfg)]
    with pytest.raises(SystemExit) as exc:
        ppo.main([*argv, "--run-dir", str(run)])
    assert exc.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    # the first update diverged: the guard stops at the next rollout start, before the
    # checkpoint callback could save NaN weights there
    assert "training diverged at step 128" in line and "no checkpoint was written" in line
    assert not (run / "final_model.zip").exists()
    assert not list((run / "checkpoints").glob("model_*.zip"))
    check_weights_finite(run / "best_model.zip")  # selected before the divergence: finite
