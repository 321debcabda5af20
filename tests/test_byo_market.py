"""Bring your own candles: any market spec on every command, evaluation on new data.

The "other symbol" is made here from the shipped data (ETH/USDT 2023-2024 with prices x0.01,
written as a .csv.gz nobody ships a hash for), so nothing in the code knows it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from envs.data.loading import file_sha256
from envs.marketspec import (
    WINDOW_SPLIT,
    add_market_flags,
    market_dirname,
    market_from_args,
    market_key,
    pin_market_argv,
    split_key,
)
from envs.presets import DATA_DIR, get_preset
from lab.config import ConfigError

REPO = Path(__file__).resolve().parent.parent
TINY_PPO = {
    "env": {"n_envs": 4, "episode_length": 64},
    "ppo": {"n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "train": {"eval_freq": 128, "n_eval_episodes": 2, "checkpoint_freq": 128},
}


@pytest.fixture(scope="module")
def symbol_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sol_1h.csv.gz`` (2023-2024) and ``sol_new.csv.gz`` (its rows from 2024-06-01 on)."""
    d = tmp_path_factory.mktemp("sol")
    df = pd.read_csv(DATA_DIR / "ethusdt_1h.csv.gz")
    df = df[df["timestamp"] >= "2023-01-01"].copy()
    for col in ("open", "high", "low", "close"):
        df[col] = df[col] * 0.01
    df.to_csv(d / "sol_1h.csv.gz", index=False)
    df[df["timestamp"] >= "2024-06-01"].to_csv(d / "sol_new.csv.gz", index=False)
    (d / "tiny.yml").write_text(yaml.safe_dump(TINY_PPO))
    return d


def _args(argv: list[str], window: bool = False) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--env")
    p.add_argument("--split", default="test")
    add_market_flags(p, window=window)
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- keys (fast)
def test_a_file_spec_becomes_a_key_that_re_resolves_anywhere(symbol_dir: Path) -> None:
    path = symbol_dir / "sol_1h.csv.gz"
    args = _args(["--env", str(path), "--bar", "4h"])
    market = market_from_args(args)
    assert args.env == f"{path.resolve()}?bar=4h"
    assert market is not None and market.freq == "4h" and market.periods_per_year == 2190
    assert market.files == {str(path.resolve()): file_sha256(path)}
    assert get_preset(args.env) is market  # every loader resolves the same key
    assert split_key(args.env) == (str(path.resolve()), {"bar": "4h"})
    assert market_dirname(args.env) == "sol_1h@4h"
    # default splits 70/15/15 by time, recorded with the market
    assert market.split_note.startswith("default splits 70/15/15")
    assert market.splits["train"][0] == "2023-01-01T00:00:00"
    assert market.splits["test"][1] == "2025-01-01T00:00:00"


def test_presets_keep_their_names_and_bar_variants_get_a_key() -> None:
    assert market_key("btc1h") == "btc1h"
    assert market_key("btc1h", bar="1d") == "btc1h?bar=1d"
    assert get_preset("btc1h?bar=1d").periods_per_year == 365
    assert market_dirname("btc1h?bar=1d") == "btc1h@1d"


def test_catalog_entry_key_carries_its_catalog(tmp_path: Path, symbol_dir: Path) -> None:
    cat = tmp_path / "cat.yml"
    cat.write_text(yaml.safe_dump({"sol": {"candles": str(symbol_dir / "sol_1h.csv.gz")}}))
    key = market_key("sol", catalog=cat)
    assert key == f"catalog:sol?catalog={cat.resolve()}"
    assert get_preset(key).name == "sol" and market_dirname(key) == "sol"


def test_start_end_add_a_window_split_and_select_it(symbol_dir: Path) -> None:
    path = symbol_dir / "sol_new.csv.gz"
    args = _args(["--env", str(path), "--start", "2024-10-01"], window=True)
    market = market_from_args(args)
    assert args.split == WINDOW_SPLIT
    assert market is not None and market.splits[WINDOW_SPLIT][0] == "2024-10-01T00:00:00"
    with pytest.raises(ConfigError, match="--end needs --start"):
        market_from_args(_args(["--env", str(path), "--end", "2024-10-01"], window=True))


def test_a_bad_spec_is_one_config_error_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        market_from_args(_args(["--env", str(tmp_path / "none.csv.gz")]))
    assert "no such file" in str(err.value) and "\n" not in str(err.value)


@given(st.text(min_size=1, max_size=40))
def test_a_run_folder_name_never_escapes_runs(text: str) -> None:
    name = market_dirname(text)
    assert name and "/" not in name and "\\" not in name and not name.startswith(".")
    assert (Path("/runs") / name).resolve().parent == Path("/runs")


def test_seed_group_workers_get_the_key_not_the_flags() -> None:
    argv = ["--env", "x.csv", "--funding=f.csv", "--bar", "4h", "--seed", "1"]
    assert pin_market_argv(argv, "/abs/x.csv?bar=4h") == [
        "--seed",
        "1",
        "--env",
        "/abs/x.csv?bar=4h",
    ]


# ----------------------------------------------------------------------------- end to end
def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_train_on_a_file_then_evaluate_on_newer_candles(
    symbol_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from agents import ppo
    from evaluate.cli import main as evaluate_main

    candles = symbol_dir / "sol_1h.csv.gz"
    run = tmp_path / "run"
    ppo.main(
        ["--env", str(candles), "--timesteps", "256", "--config", str(symbol_dir / "tiny.yml")]
        + ["--no-progress", "--run-dir", str(run)]
    )
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["env_name"] == str(candles.resolve())
    market = json.loads((run / "meta.json").read_text())["market"]
    assert market["files"] == {str(candles.resolve()): file_sha256(candles)}
    assert market["bar"] == "1h" and market["periods_per_year"] == 8760
    assert market["split_note"].startswith("default splits 70/15/15")
    assert market["splits"]["val"][0] == "2024-05-26T16:00:00"

    newer, out = symbol_dir / "sol_new.csv.gz", tmp_path / "eval"
    argv = ["--env", str(newer), "--start", "2024-10-01", "--out", str(out), "--no-plots"]
    capsys.readouterr()
    assert evaluate_main([*argv, "--n-boot", "20", str(run)]) == 0
    err = capsys.readouterr().err
    # the header names the window --start defines, not the new file's default splits
    assert "evaluating the window from 2024-10-01 to the last bar" in err
    assert "default splits" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    # the trials are counted on the run's own market's ledger (where it was selected)
    assert metrics["ledger"]["market"] == cfg["env_name"] and metrics["trials"]["n"] == 1
    assert (
        metrics["trials"]["source"].startswith("ledger ")
        and "1 trial (run 1)" in (metrics["trials"]["source"])
    )
    ctx = metrics["context"]
    assert ctx["split"] == WINDOW_SPLIT
    assert pd.Timestamp(ctx["from"]) >= pd.Timestamp("2024-10-01")
    assert pd.Timestamp(ctx["to"]) <= pd.Timestamp("2025-01-01")
    assert {"buy_and_hold", "flat", "momentum", "ppo_s0"} <= set(metrics["policies"])
    assert json.loads((out / "meta.json").read_text())["market"]["files"] == {
        str(newer.resolve()): file_sha256(newer)
    }

    # a 4h file (the newer candles resampled) does not match a run trained on 1h bars
    four = tmp_path / "sol_4h.csv.gz"
    res = _cli("-m", "envs.data", "resample", str(newer), "--to", "4h", "--out", str(four))
    assert res.returncode == 0, res.stderr
    res = _cli("-m", "evaluate", "--env", str(four), "--start", "2024-10-01", str(run))
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "bar size mismatch" in errors[0]
    assert "trained on 1h bars" in errors[0] and "has 4h bars" in errors[0]
    assert "Traceback" not in res.stderr


@pytest.mark.slow
def test_a_daily_file_run_annualises_with_365(tmp_path: Path) -> None:
    from agents import ppo

    daily = tmp_path / "btc_1d.csv.gz"
    res = _cli(
        "-m", "envs.data", "resample", "data/btcusdt_1h.csv.gz", "--to", "1d", "--out", str(daily)
    )
    assert res.returncode == 0, res.stderr
    (tmp_path / "tiny.yml").write_text(yaml.safe_dump(TINY_PPO))
    run = tmp_path / "run"
    ppo.main(
        ["--env", str(daily), "--timesteps", "128", "--config", str(tmp_path / "tiny.yml")]
        + ["--no-progress", "--run-dir", str(run)]
    )
    market = json.loads((run / "meta.json").read_text())["market"]
    assert market["bar"] == "1d" and market["periods_per_year"] == 365
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["periods_per_year"] == 365
    bh = metrics["policies"]["buy_and_hold"]
    assert bh["years"] == pytest.approx(bh["n_bars"] / 365)  # 365 reached the metrics


def test_a_run_whose_feature_columns_differ_is_refused_naming_them(symbol_dir: Path) -> None:
    from types import SimpleNamespace

    from envs import load_market
    from envs.features import RobustNormaliser
    from evaluate.newdata import check_runs_on_market

    key = market_key(str(symbol_dir / "sol_new.csv.gz"))
    market, norm = load_market(key, "core17", 32)
    other = RobustNormaliser.from_dict(
        {**norm.to_dict(), "feature_names": ["x", *norm.feature_names[1:]]}
    )
    run = SimpleNamespace(source=None, normaliser=other, env_settings={"feature_set": "core17"})
    with pytest.raises(
        ConfigError, match=r"feature set mismatch: .* core17 with 15 columns"
    ) as err:
        check_runs_on_market([run], key)  # type: ignore[list-item]
    assert "x" in str(err.value) and "\n" not in str(err.value)
    same = SimpleNamespace(source=None, normaliser=norm, env_settings={"feature_set": "core17"})
    check_runs_on_market([same], key)  # type: ignore[list-item]


def test_make_env_and_gymnasium_make_take_a_file(symbol_dir: Path) -> None:
    import gymnasium

    import envs

    path = str(symbol_dir / "sol_1h.csv.gz")
    env = envs.make_env(path, split="val")
    stamps = pd.to_datetime(env.unwrapped.market.timestamps, utc=True)
    assert (stamps[0], stamps[-1]) == (
        pd.Timestamp("2023-01-01", tz="UTC"),
        pd.Timestamp("2024-12-31T23:00", tz="UTC"),
    )
    four = gymnasium.make("TradingEnv-v1", market=path, bar="4h", split="val")
    market = get_preset(four.unwrapped.preset)
    assert (market.freq, market.periods_per_year) == ("4h", 2190)
    obs, _ = four.reset(seed=0)
    assert obs.shape == env.observation_space.shape


def test_new_data_warm_up_comes_from_before_start_never_after(
    symbol_dir: Path, tmp_path: Path
) -> None:
    """The window split starts at --start with valid observations (warm-up from earlier bars),
    and its features do not change when every bar after the first day is removed."""
    import numpy as np

    from envs import load_market
    from envs.registry import split_range

    newer = symbol_dir / "sol_new.csv.gz"
    key = market_key(str(newer)) + "?start=2024-10-01"  # what evaluate --start makes
    full, norm = load_market(key, "core17", 32)
    lo, _hi = split_range(full, key, WINDOW_SPLIT)
    assert pd.Timestamp(full.timestamps[lo], tz="UTC") == pd.Timestamp("2024-10-01", tz="UTC")
    assert full.obs_ok[lo]  # warm-up taken from the bars before --start
    cut = tmp_path / "cut.csv.gz"
    df = pd.read_csv(newer)
    df[df["timestamp"] < "2024-10-02"].to_csv(cut, index=False)
    cut_key = market_key(str(cut)) + "?start=2024-10-01"
    short, _ = load_market(cut_key, "core17", 32, normaliser=norm)
    lo2, hi2 = split_range(short, cut_key, WINDOW_SPLIT)
    assert hi2 - lo2 == 24
    np.testing.assert_array_equal(short.timestamps[lo2:hi2], full.timestamps[lo : lo + 24])
    np.testing.assert_array_equal(short.features[lo2:hi2], full.features[lo : lo + 24])
