"""``lab.cli.run_cli``: user errors are one ``error:`` line and exit 2, bugs keep their traceback;
a failed command leaves no half-made run folder and a retry with the same ``--run-dir`` works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab import rundir
from lab.cli import run_cli
from lab.config import ConfigError, check_choice

ROOT = Path(__file__).resolve().parent.parent


def _make_and_fail(run_dir: Path, exc: BaseException):
    def main() -> int:
        rundir.create_run_dir(
            env="btc1h", algo="ppo", seed=0, config={"a": 1}, data_files=[], run_dir=run_dir
        )
        raise exc

    return main


def test_a_user_error_is_one_line_exit_2_and_the_folder_is_removed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog"])
    monkeypatch.delenv("RLTRADE_DEBUG", raising=False)
    run = tmp_path / "run"
    assert run_cli(_make_and_fail(run, ConfigError("bad --window 0"))) == 2
    err = capsys.readouterr().err
    assert err == "error: bad --window 0\n"
    assert not run.exists()
    # the retry with the same --run-dir works
    made = rundir.create_run_dir(
        env="btc1h", algo="ppo", seed=0, config={}, data_files=[], run_dir=run
    )
    assert sorted(p.name for p in made.iterdir()) == ["command.txt", "config.yaml", "meta.json"]


def test_an_existing_empty_run_dir_is_kept_but_emptied(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["prog"])
    run = tmp_path / "given"
    run.mkdir()
    assert run_cli(_make_and_fail(run, FileNotFoundError("data/x.csv: no such file"))) == 2
    assert run.is_dir() and list(run.iterdir()) == []
    assert capsys.readouterr().err == "error: data/x.csv: no such file\n"


def test_a_bug_keeps_its_traceback_and_debug_shows_user_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog"])
    with pytest.raises(ZeroDivisionError):
        run_cli(_make_and_fail(tmp_path / "a", ZeroDivisionError("bug")))
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(sys, "argv", ["prog", "--debug"])
    with pytest.raises(ConfigError):
        run_cli(_make_and_fail(tmp_path / "b", ConfigError("x")))
    assert sys.argv == ["prog"]  # --debug is not passed on to main's parser


def test_a_folder_with_outputs_is_kept_for_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["prog"])
    run = tmp_path / "run"

    def main() -> int:
        rundir.create_run_dir(
            env="btc1h", algo="ppo", seed=0, config={}, data_files=[], run_dir=run
        )
        (run / "checkpoint.zip").write_bytes(b"x")
        raise ConfigError("late")

    assert run_cli(main) == 2
    assert (run / "checkpoint.zip").is_file() and (run / "meta.json").is_file()


def test_a_non_empty_run_dir_is_refused_naming_it_and_the_fix(tmp_path):
    (tmp_path / "x.txt").write_text("other run")
    with pytest.raises(FileExistsError, match=f"run folder {tmp_path} already exists.*--run-dir"):
        rundir.create_run_dir(
            env="btc1h", algo="ppo", seed=0, config={}, data_files=[], run_dir=tmp_path
        )


def test_check_choice_names_flag_value_source_and_valid_values():
    with pytest.raises(ConfigError, match=r"unknown --env 'nope' \(from a.yml\); valid: a, b"):
        check_choice("--env", "nope", ["b", "a"], "a.yml")
    check_choice("--env", "a", ["b", "a"])


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        "agents.ppo",
        "agents.sac",
        "supervised.train",
        "supervised.compare",
        "evaluate",
        "evaluate.walkforward",
    ],
)
def test_every_cli_refuses_a_bad_env_in_one_line_before_making_a_folder(module, tmp_path):
    out_flag = "--out" if module.startswith("evaluate") else "--run-dir"
    required = ["--algo", "momentum", "--folds", "2"] if module == "evaluate.walkforward" else []
    res = subprocess.run(
        [sys.executable, "-m", module, "--env", "nope", out_flag, str(tmp_path / "run"), *required],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    assert "error:" in res.stderr.strip().splitlines()[-1] and "nope" in res.stderr
    assert not (tmp_path / "run").exists()


def test_write_provenance_records_command_config_and_meta(tmp_path):
    from envs.presets import get_preset

    preset = get_preset("btc1h")
    out = rundir.write_provenance(
        tmp_path / "eval",
        seed=3,
        config={"out": tmp_path, "split": "test"},
        data_files=rundir.preset_files(preset),
        argv=["-m", "evaluate", "--split", "test"],
    )
    assert sorted(p.name for p in out.iterdir()) == ["command.txt", "config.yaml", "meta.json"]
    assert (out / "config.yaml").read_text() == f"out: {tmp_path}\nsplit: test\n"
    meta = __import__("json").loads((out / "meta.json").read_text())
    assert meta["seed"] == 3
    assert meta["data_sha256"][Path(preset.candles.path).name] == preset.candles.sha256
    assert (out / "command.txt").read_text().endswith("-m evaluate --split test\n")
