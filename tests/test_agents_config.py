"""Config resolution: defaults -> <algo>.yml default -> <algo>.yml[env] -> --config -> CLI."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from agents.training.config import ConfigError, EnvConfig, PPOHyper, resolve_config
from agents.training.config_schema import ENV_OPTIONS
from envs.params import EnvParams
from lab.config import describe


def _yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_layers_apply_in_order(tmp_path: Path) -> None:
    zoo = _yaml(
        tmp_path / "ppo.yml",
        {
            "default": {"env": {"window": 16, "fee_bps": 5}, "ppo": {"n_epochs": 7}},
            "btc1h": {"env": {"window": 24}},
        },
    )
    user = _yaml(tmp_path / "user.yml", {"ppo": {"n_epochs": 9}, "seed": 4})
    cfg = resolve_config(
        "ppo", "btc1h", config_file=user, cli={"env": {"n_envs": 3}}, algo_yaml=zoo
    )
    assert cfg.env.window == 24  # env entry beats default
    assert cfg.env.fee_bps == 5.0 and isinstance(cfg.env.fee_bps, float)
    assert cfg.hyper.n_epochs == 9  # --config beats the zoo file
    assert cfg.env.n_envs == 3  # CLI last
    assert cfg.seed == 4
    assert cfg.hyper.gamma == PPOHyper().gamma  # untouched default
    # eth1h has no entry: only the default applies
    assert resolve_config("ppo", "eth1h", algo_yaml=zoo).env.window == 16


def test_shipped_yaml_files_resolve() -> None:
    ppo = resolve_config("ppo", "btc1h")
    assert ppo.env.action == "discrete"
    assert ppo.policy.net_arch == {"pi": [], "vf": [64, 64]}
    assert ppo.hyper.learning_rate == 3e-4  # YAML "3.0e-4" read as a float
    sac = resolve_config("sac", "eth1h")
    assert sac.env.action == "continuous"
    d = sac.to_dict()
    assert set(d) == {"algo", "env_name", "seed", "env", "policy", "sac", "train"}


def test_unknown_key_names_key_file_and_valid_keys(tmp_path: Path) -> None:
    user = _yaml(tmp_path / "user.yml", {"ppo": {"n_epoch": 3}})
    with pytest.raises(ConfigError) as err:
        resolve_config("ppo", "btc1h", config_file=user)
    msg = str(err.value)
    assert "'n_epoch'" in msg and str(user) in msg and "n_epochs" in msg and "batch_size" in msg


def test_unknown_section_and_wrong_algo_section(tmp_path: Path) -> None:
    user = _yaml(tmp_path / "user.yml", {"sac": {"tau": 0.01}})
    with pytest.raises(ConfigError, match=r"unknown key 'sac' at the top level.*valid keys: .*ppo"):
        resolve_config("ppo", "btc1h", config_file=user)


def test_unknown_env_entry_in_zoo_file(tmp_path: Path) -> None:
    zoo = _yaml(tmp_path / "ppo.yml", {"default": {}, "btc2h": {}})
    with pytest.raises(
        ConfigError,
        match=r"'btc2h'.*valid entries: default, btc1d, btc1h, btc4h, eth1d, eth1h, eth4h",
    ):
        resolve_config("ppo", "btc1h", algo_yaml=zoo)


def test_bad_env_lists_presets() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown --env 'doge1h'; valid presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h",
    ):
        resolve_config("ppo", "doge1h")


def test_bad_types_are_named(tmp_path: Path) -> None:
    user = _yaml(tmp_path / "user.yml", {"env": {"window": 2.5}})
    with pytest.raises(ConfigError, match=r"env.window: 2.5 is not a valid int"):
        resolve_config("ppo", "btc1h", config_file=user)
    user = _yaml(tmp_path / "user2.yml", {"env": {"funding": "yes"}})
    with pytest.raises(ConfigError, match=r"env.funding"):
        resolve_config("ppo", "btc1h", config_file=user)


def test_run_config_yaml_round_trips(tmp_path: Path) -> None:
    cfg = resolve_config("sac", "btc1h", cli={"train": {"total_timesteps": 123}, "seed": 9})
    saved = _yaml(tmp_path / "config.yaml", cfg.to_dict())
    again = resolve_config("sac", "btc1h", config_file=saved)
    assert again.to_dict() == cfg.to_dict()
    with pytest.raises(ConfigError, match="env_name='btc1h' but this run has env_name='eth1h'"):
        resolve_config("sac", "eth1h", config_file=saved)


def test_sac_refuses_discrete_actions() -> None:
    with pytest.raises(ConfigError, match="SAC needs env.action: continuous"):
        resolve_config("sac", "btc1h", cli={"env": {"action": "discrete"}})


def test_describe_documents_every_field() -> None:
    text = describe(EnvConfig)
    assert "fee_bps = 10.0: fee per unit of notional traded, basis points (10 = 0.1 %)" in text
    assert text.count("\n") + 1 == len(EnvConfig.__dataclass_fields__)


def test_env_config_options_are_the_env_params_fields() -> None:
    env = {f.name: f for f in dataclasses.fields(EnvParams)}
    own = {f.name: f for f in dataclasses.fields(EnvConfig)}
    market_layout = {"feature_set", "window", "daily_window", "context"}  # load_market's, not env's
    assert set(ENV_OPTIONS) == set(own) - market_layout - {
        "options",
        "n_envs",
        "randomise",
    }  # randomise: training only
    for name in ENV_OPTIONS:  # default and doc taken from the env: no mirror to drift
        assert own[name].default == env[name].default, name
        assert own[name].metadata["doc"] == env[name].metadata["doc"], name
    assert EnvConfig().env_options() == {n: getattr(EnvParams(), n) for n in ENV_OPTIONS}
