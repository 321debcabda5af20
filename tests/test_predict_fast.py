"""The fast PPO loaders of ``agents.predict`` against ``agents.acting.loading.load_run`` (SB3's load).

A real SB3 PPO with the project's transformer policy (weights perturbed so the probabilities are
far from uniform) is saved as a run folder, promoted (which exports the numpy actor), and read
three ways on real btc1h bars: ``load_run`` (SB3), ``agents.acting.fast_policy``'s torch modules and the
exported ``agents.acting.numpy_actor``. Probabilities agree within 1e-6 and the actions are equal; a
decision through the registry imports neither torch nor stable_baselines3.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agents.acting.fast_policy import load_fast, torch_actor
from agents.acting.loading import load_run
from agents.acting.numpy_actor import NumpyActor
from agents.serving.model_registry import promote
from envs import make_env
from envs.registry import load_market

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 16


def _ppo_run(d: Path, pi: list[int]) -> Path:
    from stable_baselines3 import PPO

    from policies import ppo_policy_kwargs

    env = make_env("btc1h", split="val", feature_set="core17", window=WINDOW)
    n_features = env.market.features.shape[1]
    kwargs = ppo_policy_kwargs(WINDOW, n_features, preset="cpu")
    kwargs["net_arch"] = {"pi": pi, "vf": [64, 64]}
    model = PPO("MlpPolicy", env, policy_kwargs=kwargs, n_steps=64, batch_size=64, seed=0,
                device="cpu")  # fmt: skip
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # spread the probabilities: an untrained head is near uniform
        for p in model.policy.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    d.mkdir(parents=True)
    model.save(d / "best_model.zip")
    load_market("btc1h", "core17", WINDOW)[1].save(d / "normaliser.json")  # make_env's own
    cfg = {"algo": "ppo", "seed": 0, "env_name": "btc1h",
           "env": {"feature_set": "core17", "window": WINDOW, "action": "discrete"},
           "policy": {"preset": "cpu", "dropout": 0.0, "net_arch": {"pi": pi, "vf": [64, 64]},
                      "extractor_kwargs": {}}}  # fmt: skip
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    (d / "meta.json").write_text(json.dumps({"data_sha256": {"btcusdt_1h.csv.gz": "ab" * 32}}))
    (d / "metrics.json").write_text(json.dumps({"split": "val", "policies": {"ppo": {}}}))
    return d


def _observations(n: int = 200) -> np.ndarray:
    env = make_env("btc1h", split="val", feature_set="core17", window=WINDOW)
    m = env.market
    bars = np.flatnonzero(m.obs_ok)[-n:]
    rng = np.random.default_rng(0)
    acct = np.column_stack([rng.choice([-1.0, 0.0, 1.0], n), rng.normal(0, 0.05, n),
                            -rng.uniform(0, 0.2, n), rng.uniform(0, 1, n)])  # fmt: skip
    wins = np.stack([m.features[t - WINDOW + 1 : t + 1].ravel() for t in bars])
    return np.concatenate([wins, acct], axis=1).astype(np.float32)


@pytest.fixture(scope="module", params=[[], [16]], ids=["pi-none", "pi-16"])
def promoted(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fast")
    run = _ppo_run(tmp / "run", request.param)
    version = promote(run, "ppo_fast", tmp / "models", market="btc1h")
    return run, version


def test_fast_loaders_equal_load_run(promoted):
    run, version = promoted
    obs, bars = _observations(), np.zeros(200, dtype=np.int64)
    ref = load_run(run).policy
    want_p, want_a = ref.action_probs(obs, bars), ref.act(obs, bars)
    assert want_p.max() > 0.6 and len(set(want_a.tolist())) >= 2  # a non-trivial policy

    t = torch_actor(run)
    np.testing.assert_allclose(t.action_probs(obs, bars), want_p, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(t.act(obs, bars), want_a)

    spec = load_fast(version)
    assert isinstance(spec.policy, NumpyActor) and spec.env_settings["window"] == WINDOW
    np.testing.assert_allclose(spec.policy.action_probs(obs, bars), want_p, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(spec.policy.act(obs, bars), want_a)


def test_a_decision_imports_neither_torch_nor_sb3(promoted):
    _, version = promoted
    code = (
        "import sys, json; from agents.serving.prediction import main\n"
        f"main(['--model', 'ppo_fast', '--root', {str(version.parent.parent)!r}, '--candles', "
        "'data/btcusdt_1h.csv.gz', '--replay', '--json'])\n"
        "print(json.dumps([m for m in ('torch', 'stable_baselines3') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, check=True).stdout.splitlines()  # fmt: skip
    decision = json.loads(out[0])
    assert decision["model"] == "ppo_fast@v1" and set(decision["probabilities"]) == {
        "SELL",
        "HOLD",
        "BUY",
    }
    assert json.loads(out[-1]) == []
