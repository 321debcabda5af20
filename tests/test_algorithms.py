"""The algorithm table (``agents.algorithms``): every entry complete, and read where it matters."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from agents.algorithms import ACTION_KINDS, ALGOS, algo_spec
from agents.training.config import resolve_config
from lab.config import ConfigError


@pytest.mark.parametrize("name", sorted(ALGOS))
def test_every_algorithm_entry_is_complete(name: str) -> None:
    spec = ALGOS[name]
    assert spec.name == name
    cls = spec.sb3_class()
    assert hasattr(cls, "load") and spec.policy in cls.policy_aliases
    assert dataclasses.is_dataclass(spec.hyper)
    for f in dataclasses.fields(spec.hyper):  # every hyperparameter is an SB3 keyword
        assert f.name in cls.__init__.__code__.co_varnames, (name, f.name)
        assert f.metadata.get("doc"), f"{name}.{f.name} has no doc"
    assert spec.actions and set(spec.actions) <= set(ACTION_KINDS)
    assert spec.trainable_heads, "a pretrained backbone needs the heads that train"
    assert spec.config_yaml.is_file(), f"{spec.config_yaml} missing"
    zoo = yaml.safe_load(spec.config_yaml.read_text()) or {}
    assert set(zoo.get("default", {})) <= {"env", "policy", name, "train"}
    hyper = vars(spec.hyper())
    assert set(spec.pickled_entries) <= set(hyper) | {"clip_range_vf"}
    cfg = resolve_config(name, "btc1h")  # the table's defaults + YAML resolve and validate
    assert type(cfg.hyper) is spec.hyper and cfg.env.action in spec.actions


def test_an_unknown_algorithm_is_refused_with_the_valid_names() -> None:
    with pytest.raises(KeyError, match="valid: ppo, sac"):
        algo_spec("ddpg")
    with pytest.raises(ConfigError, match="unknown algo 'ddpg'; valid: ppo, sac"):
        resolve_config("ddpg", "btc1h")


def test_an_action_kind_the_algorithm_cannot_drive_is_refused() -> None:
    with pytest.raises(ConfigError, match="SAC needs env.action: continuous"):
        resolve_config("sac", "btc1h", cli={"env": {"action": "discrete"}})
