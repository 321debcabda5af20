"""The action rules through the agents' config: YAML keys and CLI flags in the env section,
durations converted to the market's bars before the run folder is written, bad values one
ConfigError line."""

from __future__ import annotations

import pytest

from agents.hyper import PPOHyper
from agents.training.cli import parse
from agents.training.config import resolve_config
from envs.actions import RULE_OPTIONS
from lab.config import ConfigError


def test_yaml_keys_in_time_units_become_bars_of_the_market(tmp_path):
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text(
        "env:\n  decision_interval: 1d\n  min_hold: 3d\n  no_trade_band: 0.5\n"
        "  vol_target: 0.4\n  vol_window: 14d\n  max_leverage: 2.0\n"
    )
    cfg = resolve_config("ppo", "btc1h", config_file=cfg_file)
    env = cfg.env
    assert (env.decision_interval, env.min_hold, env.vol_window) == (24, 72, 336)
    assert (env.no_trade_band, env.vol_target, env.max_leverage) == (0.5, 0.4, 2.0)
    assert set(RULE_OPTIONS) <= set(env.env_options())


def test_cli_flags_set_the_env_section():
    inv = parse("ppo", PPOHyper, ["--env", "btc1h", "--decision-interval", "12h",
                                  "--min-hold", "2", "--no-trade-band", "0.25"])  # fmt: skip
    assert (inv.cfg.env.decision_interval, inv.cfg.env.min_hold) == (12, 2)
    assert inv.cfg.env.no_trade_band == 0.25


def test_defaults_are_the_envs_and_unchanged():
    env = resolve_config("ppo", "btc1h").env
    assert (env.decision_interval, env.min_hold, env.no_trade_band) == (1, 0, 0.0)
    assert (env.vol_target, env.max_leverage, env.vol_window) == (None, 1.0, 720)


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"decision_interval": "90m"}, "decision_interval='90m' is not a whole number of 1h bars"),
        ({"min_hold": -3}, "min_hold=-3 is not valid: expected an int >= 0 (bars)"),
        ({"no_trade_band": 3.0}, "no_trade_band=3.0 is not valid: expected [0, 2]"),
        ({"options": {"min_hold": 3}}, "env.options repeats ['min_hold']"),
    ],
)
def test_bad_values_are_one_config_error_line(env, fragment):
    with pytest.raises(ConfigError) as err:
        resolve_config("ppo", "btc1h", cli={"env": env})
    assert fragment in str(err.value) and "\n" not in str(err.value)
