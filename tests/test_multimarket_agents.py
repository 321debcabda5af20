"""One PPO policy trained on several markets (``--env A B``) and training randomisation through
the config: run folder records, selection on the mean of the markets' val splits, evaluation of
the run on either market with that market's own normaliser, evaluation envs never randomised.

The two markets are made here from the shipped candles (BTC and ETH 2023-2024, prices scaled,
written as files nobody ships a hash for), so nothing in the code knows them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from agents.acting.loading import load_run
from agents.algorithms import ALGOS
from agents.training.cli import parse
from agents.training.config import ConfigError, resolve_config
from agents.training.train_rl import run, setup
from envs.data.loading import file_sha256
from envs.marketspec import market_key
from envs.normalisers import MarketNormalisers
from envs.presets import DATA_DIR
from evaluate.cli import main as evaluate_main

TINY = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "train": {"eval_freq": 128, "n_eval_episodes": 2, "checkpoint_freq": 128},
}


@pytest.fixture(scope="module")
def markets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``aaa_1h.csv.gz`` (BTC 2023-2024 x0.001) and ``bbb_1h.csv.gz`` (ETH x10), a tiny config."""
    d = tmp_path_factory.mktemp("markets")
    for src, name, scale in (("btcusdt", "aaa", 0.001), ("ethusdt", "bbb", 10.0)):
        df = pd.read_csv(DATA_DIR / f"{src}_1h.csv.gz")
        df = df[df["timestamp"] >= "2023-01-01"].copy()
        for col in ("open", "high", "low", "close"):
            df[col] = df[col] * scale
        df.to_csv(d / f"{name}_1h.csv.gz", index=False)
    (d / "tiny.yml").write_text(yaml.safe_dump(TINY))
    return d


def test_several_markets_resolve_to_one_config(markets: Path) -> None:
    a, b = str(markets / "aaa_1h.csv.gz"), str(markets / "bbb_1h.csv.gz")
    cfg = parse("ppo", ALGOS["ppo"].hyper, ["--env", a, b]).cfg
    assert cfg.markets == [market_key(a), market_key(b)] and cfg.env_name == market_key(a)
    assert cfg.to_dict()["markets"] == cfg.markets
    one = parse("ppo", ALGOS["ppo"].hyper, ["--env", a]).cfg
    assert one.markets == [] and "markets" not in one.to_dict()  # one-market configs unchanged
    with pytest.raises(ConfigError, match="this run has markets="):
        resolve_config("ppo", market_key(a), cli={"markets": [market_key(b)]}, markets=[a, b])


def test_randomisation_reaches_the_training_env_only(markets: Path, tmp_path: Path) -> None:
    cfg_file = tmp_path / "rand.yml"
    rand = {"obs_noise_std": 0.2, "fee_mult": [0.5, 2.0], "episode_length_min": 16}
    cfg_file.write_text(yaml.safe_dump({**TINY, "env": {**TINY["env"], "randomise": rand}}))
    argv = ["--env", str(markets / "aaa_1h.csv.gz"), "--config", str(cfg_file), "--no-progress"]
    session = setup("ppo", [*argv, "--run-dir", str(tmp_path / "run")])
    train, evaluation = session.training.train_env.venv, session.training.eval_env.venv
    assert train.randomise.active and train.randomise.fee_mult == (0.5, 2.0)
    assert not evaluation.randomise.active  # model selection sees clean observations, real costs
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["env"]["randomise"] == rand
    session.training.close()


def test_the_readmes_randomise_example_is_a_valid_config() -> None:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    layer = yaml.safe_load(block)
    assert set(layer["env"]["randomise"]) == {
        "episode_length_min", "obs_noise_std", "fee_mult", "slippage_mult", "market_weights"
    }  # fmt: skip
    cfg = resolve_config("ppo", "btc1h", cli=layer)
    assert cfg.env.randomise == layer["env"]["randomise"]


@pytest.mark.slow
def test_train_on_two_markets_select_on_their_mean_evaluate_on_either(
    markets: Path, tmp_path: Path
) -> None:
    a, b = markets / "aaa_1h.csv.gz", markets / "bbb_1h.csv.gz"
    key_a, key_b = market_key(str(a)), market_key(str(b))
    rundir = tmp_path / "run"
    run(
        "ppo",
        ["--env", str(a), str(b), "--timesteps", "256", "--config", str(markets / "tiny.yml")]
        + ["--no-progress", "--run-dir", str(rundir)],
    )
    cfg = yaml.safe_load((rundir / "config.yaml").read_text())
    assert cfg["markets"] == [key_a, key_b] and cfg["env_name"] == key_a
    meta = json.loads((rundir / "meta.json").read_text())
    assert [m["key"] for m in meta["markets"]] == [key_a, key_b]
    assert meta["markets"][1]["files"] == {str(b.resolve()): file_sha256(b)}
    assert set(meta["data_sha256"].values()) >= {file_sha256(a), file_sha256(b)}
    mn = MarketNormalisers.load(rundir / "normalisers.json")
    assert [e.key for e in mn.entries] == [key_a, key_b]
    assert json.loads((rundir / "normaliser.json").read_text()) == mn.primary.to_dict()
    assert mn.entries[0].normaliser.to_dict() != mn.entries[1].normaliser.to_dict()

    # selection: every evaluation scored on both markets' val splits, best = highest mean
    history = json.loads((rundir / "eval" / "markets.json").read_text())["history"]
    selection = json.loads((rundir / "eval" / "selection.json").read_text())["history"]
    assert len(history) == len(selection) >= 2
    for h, s in zip(history, selection, strict=True):
        vals = [0.0 if v is None else v for v in h["values"].values()]
        assert set(h["values"]) == {key_a, key_b}
        assert s["value"] is None or math.isclose(s["value"], np.mean(vals), rel_tol=1e-12)
    metrics = json.loads((rundir / "metrics.json").read_text())
    assert set(metrics["markets"]) == {key_a, key_b} and "ppo_best" in metrics["mean_val"]
    assert metrics["policies"]["ppo_best"] == metrics["markets"][key_a]["ppo_best"]
    assert "mean val sharpe over 2 markets" in metrics["selection"]

    # evaluate the run on the second market alone: its own normaliser, the training numbers
    spec = load_run(rundir)
    assert isinstance(spec.normaliser, MarketNormalisers)
    out = tmp_path / "eval"
    code = evaluate_main(
        ["--env", str(b), "--split", "val", "--out", str(out), "--no-plots", "--n-boot", "20"]
        + [str(rundir)]
    )
    assert code == 0
    evaluated = json.loads((out / "metrics.json").read_text())["policies"]["ppo_s0"]
    best = json.loads((rundir / "eval" / "best.json").read_text())["num_timesteps"]
    # best_model.zip's val Sharpe on market b as the selection computed it during training
    scored = next(h for h in history if h["num_timesteps"] == best)["values"][key_b]
    assert evaluated["sharpe"] == pytest.approx(scored, rel=1e-9)
