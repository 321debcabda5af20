"""No code runs when a model is loaded: crafted zips and checkpoints on every loading path.

A real pickle whose ``__reduce__`` touches a marker file is embedded where SB3 stores its
cloudpickle blobs (the zip's ``data`` entry) or in a supervised ``model.pt``. Every path that
loads a model (``load_run``, the evaluate CLI, an ensemble, ``--resume``, ``--warm-start``) must
leave no marker; a refused file gives one line naming what was refused, exit code 2.
"""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from agents import ppo
from agents.acting.loading import load_run
from agents.acting.safe_load import ModelLoadError, config_from_saved
from agents.training.models import build_model
from agents.training.vec_env import SB3BatchedTradingEnv
from envs import MarketData
from evaluate import cli as evaluate_cli

WINDOW, N_FEATURES = 8, 3


class Touch:
    """Unpickling this touches ``path``: the payload a hostile model file would carry."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _saved_config() -> dict:
    return {
        "algo": "ppo",
        "env_name": "btc1h",
        "seed": 3,
        "env": {"feature_set": "core17", "window": WINDOW, "action": "discrete", "n_envs": 2},
        "ppo": {"n_steps": 16, "batch_size": 32, "n_epochs": 1},
    }


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, make_candles_module) -> Path:
    """A real project PPO run folder (transformer extractor) on a small synthetic market."""
    run = tmp_path_factory.mktemp("runs") / "20250101-000000_s3"
    run.mkdir()
    saved = _saved_config()
    cfg = config_from_saved(saved, "test")
    candles = make_candles_module(150, seed=1)
    feats = np.random.default_rng(0).standard_normal((len(candles), N_FEATURES))
    market = MarketData.build(candles, feats, None, window=WINDOW, feature_names=("a", "b", "c"))
    env = SB3BatchedTradingEnv(market, 2, (0, market.n_bars), seed=0, funding=False)
    model = build_model(cfg, env, N_FEATURES, tensorboard_log=None)
    model.save(run / "final_model.zip")
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    (run / "checkpoints").mkdir()
    model.save(run / "checkpoints" / "model_32_steps.zip")
    (run / "checkpoints" / "latest.json").write_text(
        json.dumps({"num_timesteps": 32, "model": "model_32_steps.zip", "vecnormalize": None})
    )
    return run


@pytest.fixture(scope="module")
def make_candles_module():
    from tests.conftest import synthetic_candles

    return synthetic_candles


def craft(src: Path, dst: Path, key: str, marker: Path) -> Path:
    """Copy SB3 zip ``src`` to ``dst`` with ``data[key]`` a live pickle that touches marker."""
    blob = pickle.dumps(Touch(marker))
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            raw = zin.read(name)
            if name == "data":
                data = json.loads(raw)
                data[key] = {
                    ":type:": "<class 'x'>",
                    ":serialized:": base64.b64encode(blob).decode(),
                }
                raw = json.dumps(data).encode()
            zout.writestr(name, raw)
    return dst


def _copy_run(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def _one_line_exit(capsys, fn, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        fn(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_the_payload_is_live(tmp_path):
    """Guard against a test that cannot fail: unpickling the blob does touch the marker."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Touch(marker)))
    assert marker.exists()


def test_known_entry_is_rebuilt_from_config_not_unpickled(run_dir, tmp_path):
    marker = tmp_path / "pwned"
    run = _copy_run(run_dir, tmp_path / "run_s3")
    craft(run_dir / "final_model.zip", run / "final_model.zip", "policy_class", marker)
    spec = load_run(run)
    assert not marker.exists()
    # the weights are the saved ones: the same actions as the untouched zip
    ref = load_run(run_dir)
    obs = np.random.default_rng(1).standard_normal((8, WINDOW * N_FEATURES + 4))
    np.testing.assert_array_equal(spec.policy.act(obs, None), ref.policy.act(obs, None))


def test_unknown_entry_is_refused_by_load_run(run_dir, tmp_path):
    marker = tmp_path / "pwned"
    run = _copy_run(run_dir, tmp_path / "run_s3")
    craft(run_dir / "final_model.zip", run / "final_model.zip", "_hidden", marker)
    with pytest.raises(ModelLoadError, match=r"refused: .*\['_hidden'\]"):
        load_run(run)
    assert not marker.exists()


def test_evaluate_cli_and_ensemble_refuse_in_one_line(run_dir, tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = _copy_run(run_dir, tmp_path / "bad_s4")
    craft(run_dir / "final_model.zip", bad / "final_model.zip", "_hidden", marker)
    out = tmp_path / "eval"
    line = _one_line_exit(capsys, evaluate_cli.main, [str(bad), "--out", str(out), "--no-plots"])
    assert "refused" in line and "_hidden" in line and "bad_s4" in line
    line = _one_line_exit(
        capsys,
        evaluate_cli.main,
        [str(run_dir), str(bad), "--ensemble", "voting", "--out", str(out), "--no-plots"],
    )
    assert "refused" in line and "_hidden" in line
    assert not marker.exists()


def test_resume_refuses_a_crafted_checkpoint_and_records_nothing(run_dir, tmp_path, capsys):
    marker = tmp_path / "pwned"
    run = _copy_run(run_dir, tmp_path / "run_s3")
    ckpt = run / "checkpoints" / "model_32_steps.zip"
    craft(run_dir / "checkpoints" / "model_32_steps.zip", ckpt, "_hidden", marker)
    line = _one_line_exit(capsys, ppo.main, ["--resume", str(run), "--no-progress"])
    assert "refused" in line and "_hidden" in line and "model_32_steps.zip" in line
    assert not marker.exists()
    assert not (run / "resumes.txt").exists()


def test_warm_start_refuses_a_pickled_checkpoint(tmp_path, capsys):
    marker = tmp_path / "pwned"
    ckpt = tmp_path / "model.pt"
    torch.save({"kind": "classifier", "payload": Touch(marker)}, ckpt)
    run = tmp_path / "new_run"
    line = _one_line_exit(
        capsys, ppo.main, ["--env", "btc1h", "--warm-start", str(ckpt), "--run-dir", str(run)]
    )
    assert "refused" in line and "model.pt" in line
    assert not marker.exists()
    assert not run.exists()


@pytest.mark.parametrize("damage", ["truncated", "not_a_zip", "bit_flip"])
def test_corrupt_model_files_give_one_line(run_dir, tmp_path, capsys, damage):
    run = _copy_run(run_dir, tmp_path / "run_s3")
    target = run / "final_model.zip"
    raw = target.read_bytes()
    if damage == "truncated":
        target.write_bytes(raw[: len(raw) // 2])
    elif damage == "not_a_zip":
        target.write_text("open,high,low,close\n1,2,3,4\n")
    else:  # one byte inside the compressed policy.pth flipped: the CRC check catches it
        with zipfile.ZipFile(target) as zf:
            info = zf.getinfo("policy.pth")
        pos = info.header_offset + 30 + len(info.filename) + 40
        target.write_bytes(raw[:pos] + bytes([raw[pos] ^ 0xFF]) + raw[pos + 1 :])
    line = _one_line_exit(
        capsys, evaluate_cli.main, [str(run), "--out", str(tmp_path / "e"), "--no-plots"]
    )
    assert "final_model.zip" in line


def test_nan_weights_are_refused(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path / "run_s3")
    src = run_dir / "final_model.zip"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(run / "final_model.zip", "w") as zout:
        for name in zin.namelist():
            raw = zin.read(name)
            if name == "policy.pth":
                import io

                state = torch.load(io.BytesIO(raw), weights_only=True)
                key = next(k for k in state if k.endswith("action_net.weight"))
                state[key][0, 0] = float("nan")
                buf = io.BytesIO()
                torch.save(state, buf)
                raw = buf.getvalue()
            zout.writestr(name, raw)
    with pytest.raises(ModelLoadError, match=r"action_net.weight' has 1 NaN/inf values"):
        load_run(run)
