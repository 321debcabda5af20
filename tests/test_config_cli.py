"""One config mechanism (``lab.config``): ``--help`` comes from the dataclasses' field docs, and
a bad value is one ``error:`` line naming the flag, value, source and fix, with exit code 2."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from agents.cli import build_parser as agents_parser
from agents.config import EnvConfig, PolicyConfig, PPOHyper, SACHyper, TrainConfig
from lab.cli import run_cli
from supervised import train as supervised_train
from supervised.fitting import FitConfig


def _flags(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def test_supervised_help_lists_every_field_with_its_doc():
    text = supervised_train.build_parser().format_help()
    for f in dataclasses.fields(FitConfig):
        assert f"{f.name}: " in text, f.name
        assert " ".join(f.metadata["doc"].split())[:20] in " ".join(text.split()), f.name


@pytest.mark.parametrize("algo, hyper", [("ppo", PPOHyper), ("sac", SACHyper)])
def test_agents_help_lists_every_field(algo, hyper):
    text = agents_parser(algo, hyper).format_help()
    for cls in (EnvConfig, PolicyConfig, hyper, TrainConfig):
        for name in _flags(cls):
            assert f"{name} = " in text, (cls.__name__, name)


def test_yaml_then_flags_resolution_and_saved_config(tmp_path):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("epochs: 3\nlr: 0.01\nlabel_params: {k: 0.5}\n")
    args = supervised_train.build_parser().parse_args(
        ["--config", str(cfg_file), "--epochs", "5", "--no-funding"]
    )
    cfg = supervised_train.config_from_args(args)
    assert (cfg.epochs, cfg.lr, cfg.label_params, cfg.funding) == (5, 0.01, {"k": 0.5}, False)
    assert cfg.batch_size == FitConfig().batch_size


BAD = [
    (["--epochs", "0"], "error: --epochs 0 (from the command line) must be >= 1"),
    (["--batch-size", "0"], "error: --batch-size 0 (from the command line) must be >= 1"),
    (["--window", "0"], "error: --window 0 (from the command line) must be >= 1 bar"),
    (["--lr", "0"], "error: --lr 0.0 (from the command line) must be > 0"),
    (["--slippage-bps", "-1"], "error: --slippage-bps -1.0 (from the command line) must be >= 0"),
    (["--env", "banana"], "error: --env 'banana' (from the command line) must be a data preset"),
    (["--label-param", "k"], "error: --label-param: expected KEY=VALUE, got 'k'"),
]


@pytest.mark.parametrize("argv, line", BAD, ids=[b[0][0] for b in BAD])
def test_a_bad_flag_is_one_line_and_exit_2(argv, line, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["supervised.train", *argv, "--run-dir", str(run)])
    assert run_cli(supervised_train.main) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1 and "Traceback" not in err
    assert not run.exists()


def test_a_bad_yaml_key_names_key_file_and_valid_keys(tmp_path, monkeypatch, capsys):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("epoch: 3\n")
    monkeypatch.setattr(sys, "argv", ["supervised.train", "--config", str(cfg_file)])
    assert run_cli(supervised_train.main) == 2
    err = capsys.readouterr().err
    assert f"unknown key 'epoch' in section 'FitConfig' of {cfg_file}" in err
    assert "valid keys: env, feature_set" in err and err.count("\n") == 1


def test_a_bad_yaml_value_names_the_file(tmp_path, monkeypatch, capsys):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("epochs: 0\n")
    monkeypatch.setattr(sys, "argv", ["supervised.train", "--config", str(cfg_file)])
    assert run_cli(supervised_train.main) == 2
    assert capsys.readouterr().err == f"error: --epochs 0 (from {cfg_file}) must be >= 1\n"


def test_an_enum_flag_outside_its_choices_exits_2(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["supervised.train", "--labels", "banana"])
    with pytest.raises(SystemExit) as exc:
        run_cli(supervised_train.main)
    assert exc.value.code == 2
    assert "invalid choice: 'banana'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "layer, message",
    [
        ({"train": {"eval_freq": 0}}, "train.eval_freq must be >= 1"),
        ({"train": {"checkpoint_freq": 0}}, "train.checkpoint_freq must be >= 1"),
        ({"ppo": {"learning_rate": 0.0}}, "ppo.learning_rate must be > 0"),
        ({"env": {"slippage_bps": -1.0}}, "env.slippage_bps must be >= 0 bps"),
        ({"env": {"options": {"max_drawdown": 1.5}}}, "max_drawdown must be in (0, 1]"),
    ],
)
def test_agents_bad_values_are_config_errors(layer, message, tmp_path):
    import yaml

    from agents.config import ConfigError, resolve_config

    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(layer))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")):
        resolve_config("ppo", "btc1h", config_file=path)
