"""Train/serve parity of the daily features, the context market and the daily rows.

A PPO with the multi-timeframe extractor on ``btc4h`` (``daily30`` with ETH as context, 8 bars +
4 daily rows) is saved as a run folder and promoted; the registry record carries the layout, and
``agents.predict``'s market (computed from the candle tail it reads) gives the env's observation
on the same bar, bit for bit, and the same action. A context file that lacks the decision bar is
refused instead of read as "no context".
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agents.acting.fast_policy import load_fast
from agents.acting.loading import load_run
from agents.serving.model_registry import promote
from agents.serving.prediction import StaleInputError, decide, serve_lookback, serve_market
from envs import make_env
from envs.data import load_clean, load_funding
from envs.registry import load_market
from policies import ppo_policy_kwargs

LAYOUT = {"feature_set": "daily30", "window": 8, "daily_window": 4, "context": "eth1h"}


def make_run(d: Path) -> Path:
    from stable_baselines3 import PPO  # heavy: imported by the one test helper that builds one

    env = make_env("btc4h", split="val", **LAYOUT)
    kwargs = ppo_policy_kwargs(8, env.market.n_features, daily_window=4)
    model = PPO("MlpPolicy", env, policy_kwargs=kwargs, n_steps=64, batch_size=64, seed=0,
                device="cpu")  # fmt: skip
    d.mkdir(parents=True)
    model.save(d / "best_model.zip")
    load_market("btc4h", "daily30", 8, context="eth1h", daily_window=4)[1].save(
        d / "normaliser.json"
    )
    cfg = {"algo": "ppo", "seed": 0, "env_name": "btc4h", "env": {**LAYOUT, "action": "discrete"},
           "policy": {"preset": "cpu", "dropout": 0.0, "net_arch": {"pi": [], "vf": [64, 64]},
                      "extractor_kwargs": {}}}  # fmt: skip
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    (d / "meta.json").write_text(json.dumps({"data_sha256": {"btcusdt_1h.csv.gz": "ab" * 32}}))
    (d / "metrics.json").write_text(json.dumps({"split": "val", "policies": {"ppo": {}}}))
    return d


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("daily_serving")
    version = promote(make_run(tmp / "run"), "daily_mtf", tmp / "models", market="btc4h")
    return tmp / "models", version


def test_record_carries_the_layout_and_fast_path_declines(served):
    _, version = served
    record = json.loads((version / "registry.json").read_text())
    assert record["daily_window"] == 4 and record["context"] == "eth1h"
    assert load_fast(version) is None  # two encoders: served through load_run, not the numpy actor
    assert not (version / "actor.npz").exists()


def test_predict_observation_and_action_equal_the_env(served):
    root, version = served
    record = json.loads((version / "registry.json").read_text())
    env = make_env("btc4h", split="val", **LAYOUT)
    m = env.market
    t = int(env.tables.starts[len(env.tables.starts) // 2])
    obs_env, _ = env.reset(options={"start": t})
    candles = load_clean("btc4h")[0].iloc[: t + 1]
    tail = candles.iloc[-4 * serve_lookback(record) :]  # what predict reads by default
    funding = load_funding("btc4h")
    spec = load_run(version)
    served_m = serve_market(tail, funding, record, spec.normaliser)
    last = served_m.n_bars - 1
    assert served_m.timestamps[last] == m.timestamps[t]
    np.testing.assert_array_equal(served_m.observation(last, np.zeros(4)), obs_env)
    close = pd.Timestamp(int(m.timestamps[t]), unit="ns", tz="UTC") + pd.Timedelta("4h")
    d = decide("daily_mtf", tail, now=close.to_pydatetime(), root=root, funding=funding)
    model_action = spec.policy.act(obs_env[None, :], np.array([t]))
    assert d.action == int(np.asarray(model_action).reshape(-1)[0])


def test_context_without_the_decision_bar_is_refused(served):
    root, version = served
    record = json.loads((version / "registry.json").read_text())
    candles = load_clean("btc4h")[0].loc[:"2023-06-01"]
    eth = load_clean("eth4h")[0].loc[:"2023-05-20"]  # stale: ends 12 days before the decision
    with pytest.raises(StaleInputError, match=r"context candles \(eth1h\): no bar opening at"):
        serve_market(candles, None, record, load_run(version).normaliser, eth)
