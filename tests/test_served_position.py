"""A served account position the model never saw is refused before the model loads: its
observation slot is bounded by max(1, max_leverage), and a long-only model never holds a short."""

from pathlib import Path

import pytest
import yaml

from agents.serving.served_rules import check_served_position


def _version(tmp_path: Path, **env: object) -> Path:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"algo": "ppo", "env": env}))
    return tmp_path


@pytest.mark.parametrize(
    ("env", "position", "bounds"),
    [
        ({}, 5.0, "[-1, 1]"),
        ({}, -1.5, "[-1, 1]"),
        ({"long_only": True}, -0.5, "[0, 1]"),
        ({"vol_target": 0.5, "max_leverage": 2.0}, 2.5, "[-2, 2]"),
    ],
)
def test_a_position_outside_the_models_range_is_one_line(tmp_path, env, position, bounds):
    with pytest.raises(ValueError, match=r"must be in " + bounds.replace("[", r"\[")) as err:
        check_served_position(_version(tmp_path, **env), position)
    assert "\n" not in str(err.value) and f"--position {position:g}" in str(err.value)


@pytest.mark.parametrize(
    ("env", "position"),
    [({}, -1.0), ({}, 1.0), ({"long_only": True}, 0.0), ({"max_leverage": 2.0}, -2.0)],
)
def test_a_position_the_model_can_hold_is_served(tmp_path, env, position):
    check_served_position(_version(tmp_path, **env), position)  # no error


def test_a_run_without_env_settings_has_no_bound_of_its_own(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"model": "trees", "market": "btc1h"}))
    check_served_position(tmp_path, 3.0)  # a tree model: the account is not in its features
