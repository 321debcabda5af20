"""TQC (sb3-contrib), added as one entry of ``agents.algorithms`` plus ``agents/configs/tqc.yml``:
it trains through the generic entry point, loads without unpickling, evaluates, is a learner
(seed groups, walk-forward), and the registry promotes it and predicts with it."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.__main__ import main
from agents.acting.loading import load_run
from agents.acting.safe_load import ModelLoadError, load_sb3_zip, read_zip_data, serialized_keys
from agents.learners import LEARNERS, supporting
from agents.serving import prediction
from agents.serving.model_registry import promote
from agents.training.config import resolve_config
from backtest.runner import run_policy
from lab.config import ConfigError

TINY = {
    # no band: an untrained tiny actor re-sizes by less than 0.3 and would stay flat (Sharpe nan)
    "env": {"n_envs": 2, "episode_length": 64, "no_trade_band": 0.0},
    "tqc": {"learning_starts": 64, "batch_size": 32, "buffer_size": 2000},
    "train": {"eval_freq": 10**6, "checkpoint_freq": 10**6},
}


@pytest.fixture(scope="module")
def tqc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("tqc")
    mp = pytest.MonkeyPatch()
    mp.setenv("RLTRADE_NO_LEDGER", "1")
    cfg = tmp / "tiny.yml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp / "run"
    args = ["tqc", "--env", "btc1h", "--timesteps", "192", "--seed", "2", "--config", str(cfg)]
    try:
        assert main([*args, "--run-dir", str(run), "--no-progress"]) == run
    finally:
        mp.undo()
    return run


def test_tiny_tqc_run_trains_loads_safely_and_evaluates(tqc_run: Path) -> None:
    config = yaml.safe_load((tqc_run / "config.yaml").read_text())
    assert config["algo"] == "tqc" and config["tqc"]["top_quantiles_to_drop_per_net"] == 2
    assert config["env"]["action"] == "continuous" and config["tqc"]["batch_size"] == 32
    assert "-m agents tqc --env btc1h" in (tqc_run / "command.txt").read_text()
    metrics = json.loads((tqc_run / "metrics.json").read_text())
    assert metrics["num_timesteps"] >= 192 and "tqc_final" in metrics["policies"]
    # SB3 would unpickle these; agents.acting.safe_load rebuilds each from config.yaml instead
    data = read_zip_data(tqc_run / "final_model.zip")
    assert {"train_freq", "target_entropy", "policy_class"} <= set(serialized_keys(data))
    spec = load_run(tqc_run)
    assert spec.method == "tqc" and spec.seed == 2
    model = spec.policy.model
    assert type(model).__name__ == "TQC" and model.target_entropy == -1.0
    assert model.critic.n_quantiles == 25 and model.top_quantiles_to_drop_per_net == 2
    bt = run_policy(spec, "btc1h", "val")
    assert bt.summary()["sharpe"] == pytest.approx(metrics["policies"]["tqc_best"]["sharpe"])
    assert np.isfinite(bt.summary()["total_return"])
    assert LEARNERS["tqc"].val_metrics(tqc_run)["val_sharpe"] == pytest.approx(
        metrics["policies"]["tqc_best"]["sharpe"]
    )
    for orchestrator in ("seed_group", "walkforward", "registry", "predict", "tune"):
        assert "tqc" in supporting(orchestrator)


def test_a_tampered_tqc_zip_is_refused_not_unpickled(tqc_run: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(tqc_run / "final_model.zip") as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            raw = src.read(item.filename)
            if item.filename == "data":
                data = json.loads(raw)
                data["payload"] = {":type:": "<class 'x'>", ":serialized:": "gAR9lC4="}
                raw = json.dumps(data).encode()
            dst.writestr(item, raw)
    cfg = resolve_config("tqc", "btc1h")
    with pytest.raises(ModelLoadError, match=r"refused: .*\['payload'\].*run code from the file"):
        load_sb3_zip(bad, cfg)


def test_the_registry_promotes_tqc_and_predicts_an_exposure(tqc_run: Path, tmp_path: Path,
                                                            capsys) -> None:  # fmt: skip
    root = tmp_path / "models"
    version = promote(tqc_run, "tqc_btc", root, market="btc1h")
    assert version.name == "v1"
    argv = ["--model", "tqc_btc", "--root", str(root), "--candles", "data/btcusdt_1h.csv.gz"]
    assert prediction.main([*argv, "--replay", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out.splitlines()[0])
    assert decision["model"] == "tqc_btc@v1" and decision["probabilities"] is None
    assert -1.0 <= decision["target_position"] <= 1.0


def test_tqc_config_values_are_checked_in_one_line() -> None:
    with pytest.raises(
        ConfigError, match=r"tqc.top_quantiles_to_drop_per_net must be in \[0, 25\)"
    ):
        resolve_config("tqc", "btc1h", cli={"tqc": {"top_quantiles_to_drop_per_net": 25}})
    with pytest.raises(ConfigError, match=r"tqc.gamma must be in \(0, 1\]"):
        resolve_config("tqc", "btc1h", cli={"tqc": {"gamma": 1.5}})
    with pytest.raises(ConfigError, match=r"tqc.ent_coef must be auto, auto_<initial value>"):
        resolve_config("tqc", "btc1h", cli={"tqc": {"ent_coef": "often"}})
    with pytest.raises(ConfigError, match="TQC needs env.action: continuous"):
        resolve_config("tqc", "btc1h", cli={"env": {"action": "discrete"}})
