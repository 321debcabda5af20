"""One config mechanism (``lab.config``): ``--help`` comes from the dataclasses' field docs, and
a bad value is one ``error:`` line naming the flag, value, source and fix, with exit code 2."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from agents.training.cli import build_parser as agents_parser
from agents.training.config import EnvConfig, PolicyConfig, PPOHyper, SACHyper, TrainConfig
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
    (["--window", "0"], "error: --window 0 (from the command line) must be from 1 to 4096 bars"),
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

    from agents.training.config import ConfigError, resolve_config

    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(layer))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")):
        resolve_config("ppo", "btc1h", config_file=path)


def _entry_points() -> list[tuple[str, object, list[str], tuple[type, ...]]]:
    """Every CLI entry point: (name, main, argv before --help, its config dataclasses)."""
    from agents import ppo, sac
    from agents.experiments import search as tune
    from agents.experiments.tune_config import TuneConfig
    from agents.serving import model_registry as registry
    from agents.serving import paper_trading as paper
    from agents.serving import prediction as predict
    from agents.serving.serve_config import (
        REGISTRY_COMMANDS,
        PaperConfig,
        PredictConfig,
        RegistryConfig,
    )
    from agents.transfer.pretrained_config import PretrainedConfig
    from envs.data import __main__ as data_cli
    from envs.data.cli_config import COMMANDS as DATA_COMMANDS
    from evaluate import cli as evaluate_cli
    from evaluate import walkforward
    from evaluate.eval_config import EvalConfig
    from evaluate.walkforward.args import WalkForwardConfig
    from supervised import compare, pretrain
    from supervised.trees import train as trees_train
    from supervised.trees.ensemble import TreeSizes

    rl = (EnvConfig, PolicyConfig, TrainConfig)
    points = [
        ("agents.ppo", ppo.main, [], (*rl, PPOHyper, PretrainedConfig)),
        ("agents.sac", sac.main, [], (*rl, SACHyper, PretrainedConfig)),
        ("agents.tune", tune.main, [], (TuneConfig,)),
        ("agents.registry", registry.main, [], (RegistryConfig,)),
        ("agents.predict", predict.main, [], (PredictConfig,)),
        ("agents.paper", paper.main, [], (PaperConfig,)),
        ("supervised.train", supervised_train.main, [], (FitConfig,)),
        ("supervised.compare", compare.main, [], (compare.CompareConfig,)),
        ("supervised.pretrain", pretrain.main, [], (pretrain.PretrainConfig,)),
        ("supervised.trees", trees_train.cli, [], (trees_train.TreesConfig, TreeSizes)),
        ("evaluate", evaluate_cli.main, [], (EvalConfig,)),
        ("evaluate.walkforward", walkforward.main, [], (WalkForwardConfig,)),
        ("envs.data", data_cli.main, [], ()),
    ]
    points += [
        (f"agents.registry {c}", registry.main, [c], (cls,)) for c, cls in REGISTRY_COMMANDS.items()
    ]
    points += [(f"envs.data {c}", data_cli.main, [c], (cls,)) for c, cls in DATA_COMMANDS.items()]
    return points


ENTRY_POINTS = _entry_points()


@pytest.mark.parametrize(
    "name, main, argv, classes", ENTRY_POINTS, ids=[e[0] for e in ENTRY_POINTS]
)
def test_every_entry_point_help_exits_0_and_names_every_field(name, main, argv, classes, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0, name
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m "), text[:80]
    for cls in classes:
        for f in dataclasses.fields(cls):
            # add_fields writes "name: doc"; the RL configs' epilog writes "name = default: doc"
            assert f"{f.name}: " in text or f"{f.name} = " in text, (name, cls.__name__, f.name)


def test_list_and_required_fields_resolve_and_check(tmp_path):
    from evaluate.eval_config import build_parser as eval_parser
    from evaluate.eval_config import config_from_args as eval_config
    from evaluate.walkforward.args import build_parser as wf_parser
    from lab.config import ConfigError

    cfg = eval_config(
        eval_parser().parse_args(["a=r1", "--seeds", "1", "2", "--ensemble", "voting"])
    )
    assert (cfg.runs, cfg.seeds, cfg.ensemble, cfg.split) == (["a=r1"], [1, 2], ["voting"], "test")
    layer = tmp_path / "e.yml"
    layer.write_text("split: val\nseeds: [3]\nn_boot: 0\n")
    with pytest.raises(ConfigError, match=rf"--n-boot 0 \(from {layer}\) must be >= 1"):
        eval_config(eval_parser().parse_args(["--config", str(layer)]))
    layer.write_text("split: val\nseeds: [3]\n")
    cfg = eval_config(eval_parser().parse_args(["--config", str(layer), "--split", "train"]))
    assert (cfg.split, cfg.seeds) == ("train", [3])  # the flag wins over the file
    with pytest.raises(SystemExit):  # --algo (or --methods) is required
        wf_parser().parse_args(["--env", "btc1h"])


def test_trees_yaml_routes_keys_to_the_config_and_the_sizes(tmp_path):
    from lab.config import ConfigError
    from supervised.trees.train import build_parser, configs

    layer = tmp_path / "t.yml"
    layer.write_text("horizon: 12\ngb_subsample: 0.5\nlabel_params: {threshold: 0.01}\n")
    cfg, sizes, opts = configs(build_parser().parse_args(["--config", str(layer), "--n-jobs", "1"]))
    assert (cfg.horizon, sizes.gb_subsample, opts["n_jobs"]) == (12, 0.5, 1)
    assert cfg.label_params == {"threshold": 0.01, "cost_bps": 0.0}
    layer.write_text("n_tree: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'n_tree' in .*valid keys: env, "):
        configs(build_parser().parse_args(["--config", str(layer)]))


def test_data_and_tune_bad_values_are_one_line_exit_2(monkeypatch, capsys):
    from agents.experiments.tune_config import config_from_args
    from envs.data.__main__ import main as data_main
    from lab.config import ConfigError

    with pytest.raises(SystemExit) as exc:
        data_main(["clean", "btc1h", "--min-valid-fraction", "1.5"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err == "error: --min-valid-fraction 1.5 (from the command line) must be in [0, 1]\n"
    with pytest.raises(
        ConfigError, match=r"--trials 0 \(from the command line\) must be from 1 to 10000"
    ):
        config_from_args(["--env", "btc1h", "--algo", "ppo", "--trials", "0"])
    cfg = config_from_args(["--env", "btc1h", "--algo", "sac", "--trials", "2", "--lr", "1e-3"])
    assert (cfg.study, cfg.passthrough) == ("sac", ["--lr", "1e-3"])  # unknown: to the trials
