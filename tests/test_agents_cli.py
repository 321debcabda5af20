"""The PPO/SAC command line: clear errors, --help, and tiny end-to-end runs on the real data."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import yaml

from agents import ppo, sac
from backtest.verdict import fmt
from envs.presets import get_preset
from lab.config import ConfigError
from lab.seeds import wants_group
from supervised.train import main as supervised_main

TINY_PPO = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "train": {"eval_freq": 128, "n_eval_episodes": 2, "checkpoint_freq": 128},
}
TINY_SAC = {
    "env": {"n_envs": 4, "episode_length": 64},
    "sac": {"learning_starts": 64, "batch_size": 32, "buffer_size": 2000},
    "train": {"eval_freq": 128, "n_eval_episodes": 2, "checkpoint_freq": 128},
}


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def _exit_message(capsys: pytest.CaptureFixture[str], fn, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        fn(argv)
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err
    return err + (exc.value.code if isinstance(exc.value.code, str) else "")


# ----------------------------------------------------------------------------- errors, help
def test_bad_env_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    msg = _exit_message(capsys, ppo.main, ["--env", "btc2h"])
    assert "unknown --env 'btc2h'; valid presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h" in msg


def test_missing_env_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        "--env is required; valid presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h"
        in _exit_message(capsys, sac.main, [])
    )


def test_unknown_config_key_names_key_file_and_valid_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _write(tmp_path / "bad.yml", {"train": {"total_timestep": 10}})
    msg = _exit_message(capsys, ppo.main, ["--env", "btc1h", "--config", str(cfg)])
    assert "unknown key 'total_timestep'" in msg and str(cfg) in msg
    assert "valid keys: total_timesteps, eval_freq" in msg
    assert not (tmp_path / "runs").exists()


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        ppo.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in (
        "--env",
        "--timesteps",
        "--seed",
        "--n-envs",
        "--device",
        "--config",
        "--run-dir",
        "--resume",
        "--warm-start",
        "--no-progress",
    ):
        assert flag in out, flag
    assert "fee_bps = 10.0" in out and "n_steps = 128" in out  # config fields documented too


def test_warm_start_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.pt"
    msg = _exit_message(capsys, ppo.main, ["--env", "btc1h", "--warm-start", str(missing)])
    assert f"--warm-start {missing}: no such file" in msg
    fake = tmp_path / "model.pt"
    fake.write_bytes(b"not a checkpoint")
    msg = _exit_message(capsys, ppo.main, ["--env", "btc1h", "--warm-start", str(fake)])
    assert f"--warm-start {fake}" in msg
    msg = _exit_message(capsys, sac.main, ["--env", "btc1h", "--warm-start", str(fake)])
    assert "--warm-start is PPO only" in msg


def test_resume_needs_a_run_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    msg = _exit_message(capsys, ppo.main, ["--resume", str(tmp_path)])
    assert "no config.yaml there" in msg


# ----------------------------------------------------------------------------- end to end
def _scalar_tags(tb_dir: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (run,) = [p for p in tb_dir.iterdir() if p.is_dir()]
    acc = EventAccumulator(str(run))
    acc.Reload()
    return {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _num_timesteps(model_zip: Path) -> int:
    with zipfile.ZipFile(model_zip) as zf:
        return int(json.loads(zf.read("data"))["num_timesteps"])


def _check_run_folder(run: Path, algo: str, steps: int) -> dict[str, list[int]]:
    for name in (
        "config.yaml",
        "command.txt",
        "meta.json",
        "normaliser.json",
        "best_model.zip",
        "final_model.zip",
        "metrics.json",
        "checkpoints/latest.json",
    ):
        assert (run / name).is_file(), name
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["algo"] == algo and config["env_name"] == "btc1h"
    assert config["env"]["n_envs"] == 4 and config["train"]["total_timesteps"] == steps
    assert f"-m agents.{algo} --env btc1h" in (run / "command.txt").read_text()
    meta = json.loads((run / "meta.json").read_text())
    preset = get_preset("btc1h")
    assert meta["data_sha256"] == {
        preset.candles.filename: preset.candles.sha256,
        preset.funding.filename: preset.funding.sha256,
    }
    assert meta["seed"] == 3
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "val" and metrics["num_timesteps"] >= steps
    final = metrics["policies"][f"{algo}_final"]
    assert final["n_bars"] > 8000  # the whole 2023 hourly split
    # the collapse diagnosis: the one position held all year, or null when the policy traded
    assert final["constant_position"] in (None, -1.0, 0.0, 1.0)
    named = {None: None, 0.0: "always flat", -1.0: "always short"}
    named[1.0] = "always long: identical to buy-and-hold"
    assert metrics["collapse"][f"{algo}_final"] == named[final["constant_position"]]
    # the verdict of the val-selected model against buy-and-hold, and the next command
    best, bench = metrics["policies"][f"{algo}_best"], metrics["policies"]["buy_and_hold"]
    assert metrics["verdict"].startswith(
        f"val 2023-01-01 to 2023-12-31: {algo}_best Sharpe {fmt(best['sharpe'])} vs buy-and-hold "
        f"{fmt(bench['sharpe'])}: "
    )
    assert metrics["next_command"].endswith(f"-m evaluate --env btc1h --split test {run}")
    assert set(metrics["policies"]) >= {f"{algo}_final", "buy_and_hold"}
    assert _num_timesteps(run / "final_model.zip") >= steps
    _check_selection(run, algo, metrics)
    tags = _scalar_tags(run / "tb")
    for tag in (
        "trading/final_equity",
        "trading/sharpe",
        "trading/turnover",
        "trading/costs_paid",
        "trading/share_flat",
        "trading/round_trips_per_year",
        "trading/fees_per_year",
        "trading/funding_per_year",
        "model/params_total",
        "model/params_trainable",
        "rollout/ep_rew_mean",
        "eval/mean_reward",
    ):
        assert tag in tags, tag
    return tags


def _check_selection(run: Path, algo: str, metrics: dict) -> None:
    """best_model.zip is the evaluation with the best full-val-backtest Sharpe, and that is the
    Sharpe metrics.json reports for it (issue 11: select on the criterion the run reports)."""
    import numpy as np

    history = json.loads((run / "eval/selection.json").read_text())
    best = json.loads((run / "eval/best.json").read_text())
    assert history["metric"] == best["metric"] == "sharpe"
    steps = [h["num_timesteps"] for h in history["history"]]
    with np.load(run / "eval/evaluations.npz") as ev:
        assert steps == ev["timesteps"].tolist() and len(steps) >= 2
    values = [-np.inf if h["value"] is None else h["value"] for h in history["history"]]
    top = history["history"][int(np.argmax(values))]
    assert best["num_timesteps"] == top["num_timesteps"] and best["value"] == top["value"]
    assert metrics["policies"][f"{algo}_best"]["sharpe"] == top["value"]


@pytest.mark.slow
def test_tiny_ppo_run_then_resume_continues_step_count(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "tiny.yml", TINY_PPO)
    run = tmp_path / "ppo_run"
    args = ["--env", "btc1h", "--seed", "3", "--no-progress", "--run-dir", str(run)]
    ppo.main([*args, "--timesteps", "256", "--config", str(cfg)])
    tags = _check_run_folder(run, "ppo", 256)
    assert "trading/policy_entropy" in tags
    assert json.loads((run / "checkpoints/latest.json").read_text())["num_timesteps"] == 256

    # a conflicting flag is refused, naming it; nothing is trained
    with pytest.raises(SystemExit, match="2"):
        ppo.main(["--resume", str(run), "--seed", "4", "--timesteps", "512"])

    # "killed" after 256 steps: resume to 512 with the saved config
    ppo.main(["--resume", str(run), "--timesteps", "512", "--no-progress"])
    assert _num_timesteps(run / "final_model.zip") == 512
    assert json.loads((run / "checkpoints/latest.json").read_text())["num_timesteps"] == 512
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["total_timesteps"] == 512
    assert "--resume" in (run / "resumes.txt").read_text()
    tags = _scalar_tags(run / "tb")  # same TensorBoard run, steps continue past 256
    assert max(tags["rollout/ep_rew_mean"]) > 256
    assert min(tags["train/value_loss"]) <= 256


@pytest.mark.slow
def test_tiny_sac_run(tmp_path: Path) -> None:
    cfg = _write(tmp_path / "tiny.yml", TINY_SAC)
    run = tmp_path / "sac_run"
    sac.main(
        [
            "--env",
            "btc1h",
            "--seed",
            "3",
            "--timesteps",
            "256",
            "--no-progress",
            "--config",
            str(cfg),
            "--run-dir",
            str(run),
        ]
    )
    tags = _check_run_folder(run, "sac", 256)
    assert "train/ent_coef" in tags
    assert yaml.safe_load((run / "config.yaml").read_text())["env"]["action"] == "continuous"


@pytest.mark.parametrize(
    ("argv", "group"),
    [
        (["--env", "btc1h", "--seeds", "0", "1"], True),
        (["--env", "btc1h", "--seeds=3"], True),  # once read as one run of seed 0, silently
        (["--seeds=3", "--env=btc1h"], True),
        (["--env", "btc1h", "--seed", "3"], False),
        (["--env", "btc1h"], False),
    ],
)
def test_every_form_of_seeds_asks_for_a_group(argv: list[str], group: bool) -> None:
    assert wants_group(argv) is group


@pytest.mark.parametrize("main", [ppo.main, supervised_main])
def test_seeds_with_an_equals_sign_reaches_the_group_checks(main) -> None:
    with pytest.raises(ConfigError, match="--seeds -1: seeds must be >= 0"):
        main(["--env", "btc1h", "--seeds=-1"])
