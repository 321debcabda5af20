"""Supervised trainer on real BTC data: layout equals the env's, a tiny end-to-end run, alarms."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
import yaml

from agents.acting.loading import load_run
from backtest.proxy import backtest_actions
from envs import make_env
from evaluate.report_setting import run_setting
from policies import make_config
from supervised.checkpoint import load_checkpoint
from supervised.data import load_supervised_data
from supervised.diagnostics import classifier_report
from supervised.env_backtest import env_backtest
from supervised.labels import HOLD, LabelSpec, make_labels
from supervised.model import Classifier, WindowSamples, build_samples, predict_logits
from supervised.seed_group import read_supervised_metrics
from supervised.train import main


@pytest.fixture(scope="module")
def data():
    return load_supervised_data("btc1h", "core17", 32)


def test_sample_observations_equal_the_env_observations(data):
    env = make_env("btc1h", split="val", feature_set="core17", window=32)
    starts = env.episode_starts()[:3]
    s = WindowSamples(data.features, np.asarray(starts), np.zeros(len(starts), np.int64), 32)
    for i, t in enumerate(starts):
        obs, _ = env.reset(options={"start": int(t)})
        np.testing.assert_array_equal(s.obs(np.array([i]))[0].numpy(), obs)  # flat account = 0
    assert data.obs_ok[starts].all()


def test_collapse_alarm_on_a_degenerate_model_on_real_samples(data):
    spec = LabelSpec("threshold", 6, {"threshold": 0.01})
    labels = make_labels(data.open, data.high, data.low, data.close, data.segment, spec)
    lo, _ = data.splits["val"]
    val = build_samples(data.features, data.obs_ok, labels, lo, lo + 500, 32)
    model = Classifier(make_config("cpu", window=32, n_features=data.n_features))
    with torch.no_grad():
        model.head.bias.copy_(torch.tensor([0.0, 10.0, 0.0]))  # always HOLD
    rep = classifier_report(predict_logits(model, val), val.labels)
    assert rep.alarm is not None and "HOLD 100.0% > 90%" in rep.alarm
    assert rep.balanced_accuracy == pytest.approx(1 / 3)


def test_proxy_backtest_tracks_the_env(data):
    # always long over the first 500 val bars: proxy and env should agree closely on log return
    lo, _ = data.splits["val"]
    hi = lo + 500
    acts = np.full(len(data.close), HOLD)
    acts[lo:hi] = 2
    ok = data.obs_ok[lo:hi] & data.can_step[lo:hi]
    proxy = backtest_actions(
        acts[lo:hi], data.open[lo : hi + 1], data.close[lo : hi + 1], ok, data.funding[lo : hi + 1]
    )
    env = env_backtest(data, acts, "val")
    # the env runs over the whole val split; after bar hi it goes flat (one exit trade)
    assert env["total_log_return"] == pytest.approx(proxy["total_log_return"], abs=3e-3)
    assert env["long_share"] > 0 and env["short_share"] == 0.0


def test_costs_are_the_env_defaults_everywhere(data):
    """fee 10 bps, slippage 2 bps, funding on: supervised, agents (dataclass + YAML) and evaluate."""
    from agents.training.config import resolve_config
    from envs.params import EnvParams
    from supervised.fitting import FitConfig, prepare

    env = EnvParams()
    costs = {"fee_bps": env.fee_bps, "slippage_bps": env.slippage_bps, "funding": env.funding}
    assert costs == {"fee_bps": 10.0, "slippage_bps": 2.0, "funding": True}
    assert FitConfig().costs() == costs
    for algo in ("ppo", "sac"):
        cfg = resolve_config(algo, "btc1h")
        assert {k: getattr(cfg.env, k) for k in costs} == costs, algo
    # labels: the round trip (enter + exit at fee + slippage) unless label_params says otherwise
    prep = prepare(FitConfig(max_train_samples=50, max_val_bars=100), data)
    assert prep.spec.params["cost_bps"] == 2 * (10.0 + 2.0)
    prep = prepare(
        FitConfig(
            fee_bps=4.0,
            slippage_bps=1.0,
            label_params={"k": 0.1},
            max_train_samples=50,
            max_val_bars=100,
        ),
        data,
    )
    assert prep.spec.params["cost_bps"] == 10.0 and prep.spec.params["k"] == 0.1
    prep = prepare(
        FitConfig(label_params={"cost_bps": 0.0}, max_train_samples=50, max_val_bars=100), data
    )
    assert prep.spec.params["cost_bps"] == 0.0
    # the fast proxy and the env backtest default to the same costs: funding off changes both
    lo, _ = data.splits["val"]
    acts = np.full(len(data.close), HOLD)
    acts[lo : lo + 300] = 2
    with_funding = env_backtest(data, acts, "val")
    without = env_backtest(data, acts, "val", funding=False)
    assert with_funding["funding"] != 0.0 and without["funding"] == 0.0


@pytest.mark.slow
def test_tiny_end_to_end_run_writes_the_run_folder(tmp_path, capsys):
    run = tmp_path / "run"
    main(
        [
            "--env",
            "btc1h",
            "--labels",
            "forward_sharpe",
            "--class-weights",
            "logit_adjusted",
            "--epochs",
            "1",
            "--max-train-samples",
            "400",
            "--max-val-bars",
            "300",
            "--threads",
            "1",
            "--run-dir",
            str(run),
        ]
    )
    for name in (
        "model.pt",
        "config.yaml",
        "command.txt",
        "meta.json",
        "metrics.json",
        "normaliser.json",
        "confusion_val.png",
        "confusion_val.txt",
        "confusion_val_raw.png",
    ):
        assert (run / name).is_file(), name
    assert list(run.glob("events.out.tfevents.*"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_train"] == 400 and metrics["best_epoch"] == 1
    assert set(metrics["val_env"]) == {"raw", "corrected", "rule"}
    fitted = metrics["decision_rule"]
    assert fitted["n_grid"] == len(fitted["grid"]) > 1 and fitted["grid"][0]["tau"] == 0.0
    meta = json.loads((run / "meta.json").read_text())
    assert meta["seed"] == 0 and "btcusdt_1h.csv.gz" in meta["data_sha256"]
    loaded = load_checkpoint(run, feature_set="core17", window=32)
    assert loaded.label_spec.scheme == "forward_sharpe"
    assert loaded.rule.to_dict() == fitted["rule"]  # the fitted rule travels in the checkpoint
    assert loaded.payload["costs"] == {"fee_bps": 10.0, "slippage_bps": 2.0, "funding": True}
    assert loaded.payload["preset"] == "cpu" and loaded.label_spec.params["cost_bps"] == 24.0
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["fee_bps"], config["slippage_bps"], config["funding"]) == (10.0, 2.0, True)
    with pytest.raises(ValueError, match="window: checkpoint 32, requested 48"):
        load_checkpoint(run, window=48)
    out = capsys.readouterr().out
    assert "val through the env" in out and "rule Sharpe" in out
    # it ends with the verdict of the rule it trades with, against buy-and-hold, and the next step
    rule_env, verdict = metrics["val_env"]["rule"], metrics["val_verdict"]
    assert out.rstrip().splitlines()[-2] == f"verdict: {verdict['verdict']}"
    assert re.match(r"val 2023-01-\d\d to 2023-01-\d\d: supervised \(", verdict["verdict"])
    assert f"Sharpe {rule_env['sharpe']:.2f} vs buy-and-hold" in verdict["verdict"]
    assert out.rstrip().endswith(f"-m evaluate --env btc1h --split test {run}")
    # the seed group and the ledger read the same number: the rule's, not the corrected argmax's
    read = read_supervised_metrics(run)
    assert read["val_policy"] == "rule" and read["val_sharpe"] == rule_env["sharpe"]
    # evaluate's Setting table shows this run's own configuration and the rule it trades with
    setting = run_setting(load_run(run))
    assert (setting["feature set"], setting["observation window (bars)"]) == ("core17", "32")
    assert (
        setting["labels"] == "forward_sharpe"
        and setting["loss (class weights)"] == "logit_adjusted"
    )
    assert setting["decision rule"] == loaded.rule.label()


def test_val_selection_backtest_never_reads_the_first_test_bar():
    """The fast val backtest (epoch and rule selection) holds its last position over the val
    split's last bar, as the env does: the first test bar's prices cannot move it."""
    from conftest import synthetic_candles

    from envs.market import MarketData
    from supervised.data import SupervisedData
    from supervised.fitting import FitConfig, prepare, val_market

    n, (vlo, vhi) = 600, (300, 450)
    candles = synthetic_candles(n, seed=1)
    feats = np.random.default_rng(0).standard_normal((n, 3)).astype(np.float32)
    m = MarketData.build(candles, feats, None, window=8)
    cfg = FitConfig(labels="threshold", horizon=3, label_params={"threshold": 0.001})

    def val_sharpe(close: np.ndarray) -> float:
        d = SupervisedData(
            "btc1h", "x", ["a", "b", "c"], 8, candles.index, m.open, m.high, m.low, close,
            m.segment, m.features, m.obs_ok, m.can_step, m.funding,
            {"train": (0, vlo), "val": (vlo, vhi), "test": (vhi, n)}, {}, None,
        )  # fmt: skip
        prep = prepare(cfg, d)
        assert prep.val_range == (vlo, vhi - 1)  # decision bars; the last one holds bar vhi - 1
        lo, hi = prep.val_range
        return val_market(prep, cfg).backtest(np.full(hi - lo, 2))["sharpe"]

    moved = m.close.copy()
    moved[vhi] *= 1.5  # the first TEST bar's close
    assert val_sharpe(moved) == val_sharpe(m.close.copy())
