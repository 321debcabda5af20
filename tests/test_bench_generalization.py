"""bench/generalization.py: every shipped variant is a valid overlay of the main job's config on
both shipped markets (the change it names is what the agent trains with), a bad variants file
is refused naming the variant, and the table's row reads a walk-forward summary as written."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from agents.training.fold_train import rl_config
from envs.actions import duration_bars
from envs.params import DURATION_FIELDS
from lab.config import ConfigError

HOUR_NS = 3_600_000_000_000  # both shipped markets are hourly

_PATH = Path(__file__).resolve().parent.parent / "bench" / "generalization.py"
_spec = importlib.util.spec_from_file_location("generalization", _PATH)
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)
VARIANTS = _PATH.with_suffix(".yml")


@pytest.mark.parametrize("env", ["btc1h", "eth1h"])
def test_every_shipped_variant_resolves_and_changes_what_it_says(tmp_path, env):
    variants = gen.load_variants(VARIANTS, None)
    assert "default" in variants and variants["default"]["config"] == {}
    base = rl_config("ppo", env)
    for name, v in variants.items():
        overlay = tmp_path / f"{name}.yml"
        overlay.write_text(yaml.safe_dump(v["config"]))
        cfg = rl_config(v["method"], env, config=overlay)
        for section, values in v["config"].items():
            for key, value in values.items():
                got = getattr(cfg.hyper if section == "ppo" else getattr(cfg, section), key)
                if key in DURATION_FIELDS:  # a time ("3d") is resolved to bars of the market
                    value = duration_bars(key, value, HOUR_NS)
                assert got == value, (name, section, key)
        if name == "default":
            assert cfg.to_dict() == base.to_dict()


def test_a_bad_variants_file_is_refused(tmp_path):
    bad = tmp_path / "v.yml"
    bad.write_text("fast:\n  confg: {env: {window: 8}}\n")
    with pytest.raises(ConfigError, match="variant fast: unknown key"):
        gen.load_variants(bad, None)
    with pytest.raises(ConfigError, match="--only nope: not in"):
        gen.load_variants(VARIANTS, ["nope"])


def test_row_reads_the_summary_and_picks_the_best_momentum_baseline(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    base = {"buy_and_hold": 0.65, "flat": None, "momentum": -0.8, "tsmom_long_flat": 0.64,
            "tsmom_long_short": 0.21, "trend_ensemble": 0.58, "vol_target": 0.74}  # fmt: skip
    method = {"method": "ppo", "seeds": 3, "iqm_sharpe": -0.09, "iqm_low": -0.16,
              "iqm_high": -0.06, "p_beat_buy_and_hold": 0.0, "p_beat_tsmom_long_flat": 0.25,
              "turnover_annual": 93.0, "round_trips_annual": 46.5, "fees_pct_year": 9.5,
              "costs_pct_year": 19.7, "collapsed_seeds": 0}  # fmt: skip
    (run / "summary.json").write_text(json.dumps({"methods": [method], "baseline_sharpes": base}))
    r = gen.row("default", {"method": "ppo", "note": "as shipped"}, run)
    # vol_target is not a momentum rule: the best momentum baseline is tsmom long/flat
    assert r["best_momentum"] == "tsmom_long_flat" and r["best_momentum_sharpe"] == 0.64
    assert r["p_beat_best_momentum"] == 0.25 and r["round_trips_year"] == 46.5
