"""Model registry: promote, versions, LATEST, rollback, and refusals that name their reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents.serving.model_registry import main, promote, resolve, rollback

GOOD_CLASSES = {"ok": True, "message": "val classes ok", "pred_shares": [0.3, 0.4, 0.3]}


def _tree_run(d: Path, *, classes=GOOD_CLASSES, sha=True, val=True, feature_set="core17") -> Path:
    """A tree run folder as ``supervised.trees`` writes it (the model bytes are not read here)."""
    d.mkdir(parents=True)
    (d / "model.skops").write_bytes(b"model bytes " + d.name.encode())
    info = {"format": "rltrade-trees-v1", "env": "btc1h", "feature_set": feature_set, "window": 32}
    (d / "tree.json").write_text(json.dumps(info))
    (d / "normaliser.json").write_text("{}")
    (d / "config.yaml").write_text("env: btc1h\n")
    meta = {"seed": 0, "data_sha256": {"btcusdt_1h.csv.gz": "ab" * 32} if sha else {}}
    (d / "meta.json").write_text(json.dumps(meta))
    metrics = {"checks": {"val_classes": classes}, "val_backtest": {"sharpe": 0.5} if val else {}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def test_promote_versions_latest_and_rollback(tmp_path):
    root = tmp_path / "models"
    v1 = promote(_tree_run(tmp_path / "r1"), "btc", root)
    v2 = promote(_tree_run(tmp_path / "r2"), "btc", root)
    assert (v1.name, v2.name) == ("v1", "v2")
    assert (v2 / "model.skops").read_bytes() == b"model bytes r2"
    assert {p.name for p in v2.iterdir()} >= {"tree.json", "normaliser.json", "meta.json",
                                              "config.yaml", "metrics.json", "registry.json"}  # fmt: skip
    d, rec = resolve("btc", root)
    assert d == v2 and rec["kind"] == "trees" and rec["data_sha256"]
    assert resolve("btc@v1", root)[0] == v1
    assert rollback(root, "btc") == "v1"
    assert resolve("btc", root)[0] == v1 and v2.is_dir()  # the newer version is kept
    with pytest.raises(ValueError, match="oldest version"):
        rollback(root, "btc")
    assert not list(root.glob("btc/.*"))  # no temp folders left behind


def test_collapsed_model_is_refused_with_the_reason(tmp_path, capsys):
    collapsed = {"ok": False, "message": "COLLAPSE: predicted-class share ... HOLD 97.0% > 90%"}
    run = _tree_run(tmp_path / "r", classes=collapsed)
    code = main(["--root", str(tmp_path / "models"), "promote", str(run), "--name", "btc"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "HOLD 97.0% > 90%" in err
    assert not (tmp_path / "models" / "btc").exists()


def test_every_reason_is_named(tmp_path):
    missing = {"ok": False, "message": "class never predicted on val: BUY"}
    run = _tree_run(tmp_path / "r", classes=missing, sha=False, val=False)
    with pytest.raises(ValueError) as exc:
        promote(run, "btc", tmp_path / "models")
    msg = str(exc.value)
    assert "never predicted on val: BUY" in msg and "no val metrics" in msg
    assert "no data hash" in msg


def test_feature_set_must_match_the_registered_model(tmp_path):
    root = tmp_path / "models"
    promote(_tree_run(tmp_path / "r1"), "btc", root)
    with pytest.raises(ValueError, match="feature_set 'flagtrader60' differs"):
        promote(_tree_run(tmp_path / "r2", feature_set="flagtrader60"), "btc", root)


def test_list_and_show(tmp_path, capsys):
    root = tmp_path / "models"
    promote(_tree_run(tmp_path / "r1"), "btc", root)
    assert main(["--root", str(root), "list"]) == 0
    assert "btc" in capsys.readouterr().out
    assert main(["--root", str(root), "show", "btc"]) == 0
    assert json.loads(capsys.readouterr().out)["latest"]["version"] == "v1"
    assert main(["--root", str(root), "show", "nope"]) == 2


def _ppo_run(d: Path, *, split: str = "val") -> Path:
    d.mkdir(parents=True)
    (d / "best_model.zip").write_bytes(b"zip bytes")
    (d / "config.yaml").write_text(
        "algo: ppo\nenv_name: btc1h\nseed: 0\nenv:\n  feature_set: flagtrader60\n  window: 16\n"
    )
    (d / "normaliser.json").write_text("{}")
    (d / "meta.json").write_text(json.dumps({"data_sha256": {"btcusdt_1h.csv.gz": "cd" * 32}}))
    metrics = {"split": split, "policies": {"ppo_best": {"sharpe": 0.1}}}
    (d / "metrics.json").write_text(json.dumps(metrics))
    return d


def test_a_ppo_run_folder_is_promoted_with_its_model_and_layout(tmp_path):
    v1 = promote(_ppo_run(tmp_path / "ppo"), "ppo", tmp_path / "models")
    rec = json.loads((v1 / "registry.json").read_text())
    assert (rec["kind"], rec["feature_set"], rec["window"]) == ("sb3", "flagtrader60", 16)
    assert (v1 / "best_model.zip").read_bytes() == b"zip bytes" and (v1 / "config.yaml").is_file()
    with pytest.raises(ValueError, match="no val metrics"):
        promote(_ppo_run(tmp_path / "ppo2", split="test"), "ppo", tmp_path / "models")
