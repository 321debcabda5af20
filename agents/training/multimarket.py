"""One single-asset policy trained on several markets: ``python -m agents.ppo --env btc1h eth1h``.

``--env`` with several markets (space-separated; a comma list ``btc1h,eth1h`` is a portfolio
universe for ``envs.portfolio``, a different thing) trains ONE policy whose episodes are drawn
across the markets (``envs.multimarket``: every market's train rows in one batched env, each
market's features normalised on its own train split). What changes against a one-market run:

* config: ``env_name`` is the first market (its ``agents/configs/<algo>.yml`` entry applies,
  so ``--env btc1h eth1h`` and ``--env btc1h`` differ only in the data); ``markets`` lists every
  market's key (config.yaml), and the run folder is ``runs/<m1>_<m2>.../<algo>/...``;
* ``normalisers.json``: each market's normaliser (``envs.normalisers``); ``normaliser.json`` is
  the first market's; ``meta.json["markets"]``: every market's key, bar, splits and sha256;
* model selection: with ``train.select_metric`` a val-backtest metric, every evaluation runs
  the full val backtest on EACH market's val split and ``best_model.zip`` is the checkpoint
  with the highest **mean over the markets** (a market where the policy stays flat, whose
  Sharpe is undefined, counts 0; the history per market is in ``eval/markets.json``);
* metrics.json: ``policies`` is the first market's val table (what the ledger and seed groups
  read), ``markets`` every market's table, ``mean_val`` the mean of each policy's metric;
* evaluate/predict on any one market read it with that market's normaliser (a market the run
  never saw: the first market's, as any run reads another market).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.training.config import ConfigError, RunConfig
from agents.training.validation import benchmark_backtest, validation_backtest
from backtest.table import format_table
from envs.market import MarketData
from envs.marketspec import market_from_args, market_record, pin_market_argv
from envs.multimarket import MarketSet, check_distinct, load_market_set
from envs.normalisers import FILE_NAME, MarketNormalisers, load_run_normaliser
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.rundir import market_dirname, preset_files

MARKETS_JSON = "markets.json"  # eval/: per-market values of every selection evaluation


def is_multi(cfg: RunConfig) -> bool:
    """Whether the run trains on several markets."""
    return len(cfg.markets) > 1


def market_cfg(cfg: RunConfig, key: str) -> RunConfig:
    """``cfg`` as seen from market ``key`` (a shallow copy: the sections are shared, read-only)."""
    return dataclasses.replace(cfg, env_name=key)


def run_label(cfg: RunConfig) -> str:
    """The folder name under ``runs/``: the markets' names joined by ``_``."""
    return "_".join(market_dirname(k) for k in (cfg.markets or [cfg.env_name]))


def resolve_markets(args: argparse.Namespace) -> list[str]:
    """Resolve every ``--env`` market with ``--catalog/--bar`` (``envs.marketspec``); returns
    their keys and leaves ``args.env`` the first one's. ``--funding`` names one file, so it is
    refused with several markets (a catalog entry carries each market's funding file)."""
    specs = list(args.env)
    if len(specs) > 1 and getattr(args, "funding_file", None) is not None:
        raise ConfigError(
            "--funding names one funding file but --env names several markets; give each market "
            "its funding in a catalog entry (--catalog FILE) instead"
        )
    keys = []
    for spec in specs:
        one = copy.copy(args)
        one.env = spec
        market_from_args(one)
        keys.append(one.env)
    try:
        check_distinct(keys)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    args.env = keys[0]
    return keys


def data_files(cfg: RunConfig) -> list[Path]:
    """Every market's data files (meta.json ``data_sha256``)."""
    files: list[Path] = []
    for key in cfg.markets or [cfg.env_name]:
        files += [f for f in preset_files(get_preset(key)) if f not in files]
    return files


def markets_meta(cfg: RunConfig) -> dict[str, Any]:
    """``meta.json``'s ``markets`` of a several-market run (``{}`` for one market): every
    market's key, bar, splits and the sha256 of its files (``market`` stays the first's)."""
    return {"markets": [market_record(k) for k in cfg.markets]} if is_multi(cfg) else {}


def load_run_markets(
    cfg: RunConfig, run_dir: Path, normalisers: Any = None
) -> tuple[MarketData, MarketNormalisers, tuple[int, int], tuple[int, int], MarketSet]:
    """The markets' train and val rows in one ``MarketData`` (``envs.multimarket``), their
    normalisers (given: a resumed run's; else each fitted on its own train split), the train
    and val row ranges; writes ``normalisers.json`` and ``normaliser.json`` (the first's)."""
    t0 = time.perf_counter()
    ms = load_market_set(
        cfg.markets, cfg.env.feature_set, cfg.env.window, normalisers=normalisers,
        splits=("train", "val"), daily_window=cfg.env.daily_window,
    )  # fmt: skip
    mn = ms.market_normalisers()
    if not (run_dir / FILE_NAME).is_file():
        atomic_write_json(run_dir / FILE_NAME, mn.to_dict())
    if not (run_dir / "normaliser.json").is_file():
        atomic_write_json(run_dir / "normaliser.json", mn.primary.to_dict())
    train_rows, val_rows = ms.rows_of("train"), ms.rows_of("val")
    print(
        f"data ready in {time.perf_counter() - t0:.1f}s: {len(ms.keys)} markets "
        f"({', '.join(get_preset(k).name for k in ms.keys)}), {ms.market.n_features} features "
        f"each normalised on its own train split, train rows {train_rows}, val rows {val_rows}"
    )
    return ms.market, mn, train_rows, val_rows, ms


def saved_normalisers(run_dir: Path) -> Any:
    """A resumed several-market run's normalisers (None when it has none yet)."""
    loaded = load_run_normaliser(run_dir)
    return loaded if isinstance(loaded, MarketNormalisers) else None


def _mean(values: list[float | None]) -> float:
    """Mean with an undefined value (a flat policy's Sharpe) counted 0; NaN when all are."""
    if all(v is None or not math.isfinite(v) for v in values):
        return float("nan")
    return float(
        sum(v if v is not None and math.isfinite(v) else 0.0 for v in values) / len(values)
    )


def _json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as None (what metrics.json holds)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def multi_val_score(cfg: RunConfig, run_dir: Path) -> Callable[[Any], float] | None:
    """``model -> mean over the markets of cfg.train.select_metric`` of each market's full val
    backtest (None when the run selects on mean reward); appends each evaluation's
    per-market values to ``eval/markets.json``."""
    metric = cfg.train.select_metric
    if metric == "mean_reward":
        return None
    normalisers = MarketNormalisers.load(run_dir / FILE_NAME)
    benches: dict[str, Any] = {}
    history: list[dict[str, Any]] = []

    def score(model: Any) -> float:
        values: dict[str, float | None] = {}
        for key in cfg.markets:
            mcfg = market_cfg(cfg, key)
            if key not in benches:
                benches[key] = benchmark_backtest(mcfg, "val")
            res = validation_backtest(mcfg, {"select": model}, normalisers, bench=benches[key])
            v = res[f"{cfg.algo}_select"].get(metric)
            values[key] = None if v is None else float(v)
        mean = _mean(list(values.values()))
        history.append({"num_timesteps": int(model.num_timesteps), "values": values, "mean": mean})
        atomic_write_json(run_dir / "eval" / MARKETS_JSON, {"metric": metric, "history": history})
        return mean

    return score


def other_markets_validation(
    cfg: RunConfig, models: dict[str, Any], normalisers: Any, first: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """metrics.json's ``markets`` (each market's val table; the first's is ``first``) and
    ``mean_val`` (each policy's Sharpe and total return averaged over the markets)."""
    if not is_multi(cfg):
        return {}
    tables = {cfg.markets[0]: first}
    for key in cfg.markets[1:]:
        table = validation_backtest(market_cfg(cfg, key), models, normalisers, split="val")
        if "best" not in models:  # the same weights (run_validation): one table, both names
            final = table[f"{cfg.algo}_final"]
            table = {f"{cfg.algo}_final": final, f"{cfg.algo}_best": final, **table}
        tables[key] = table
    tables = {k: _json_safe(t) for k, t in tables.items()}
    mean_val = {
        name: {
            m: _mean([tables[k].get(name, {}).get(m) for k in cfg.markets])
            for m in ("sharpe", "total_return")
        }
        for name in first
    }
    return {
        "markets": tables,
        "mean_val": mean_val,
        "selection": f"best_model.zip: the highest mean val {cfg.train.select_metric} over "
        f"{len(cfg.markets)} markets ({', '.join(cfg.markets)})",
    }


def check_recorded_markets(run_dir: Path, keys: list[str]) -> None:
    """``ConfigError`` when a file of any market a several-market run recorded in
    ``meta.json["markets"]`` has another sha256 now (a resume trains on the data it began on)."""
    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    recorded = {r.get("key"): r.get("files") or {} for r in meta.get("markets") or []}
    for key in keys:
        now = get_preset(key).files
        for path, sha in (recorded.get(key) or {}).items():
            if now.get(path, sha) != sha:
                raise ConfigError(
                    f"{run_dir}: {path} changed since the run started (sha256 {sha} then, "
                    f"{now[path]} now); restore the file or start a fresh run"
                )


def print_market_tables(cfg: RunConfig, extra: dict[str, Any]) -> None:
    """The other markets' val tables and the mean over the markets (a several-market run)."""
    if not extra:
        return
    for key in cfg.markets[1:]:
        print(format_table(extra["markets"][key], f"validation backtest ({key}, val split)"))
    means = ", ".join(
        f"{name} {v['sharpe']:+.2f}" for name, v in extra["mean_val"].items()
        if v["sharpe"] is not None and math.isfinite(v["sharpe"])
    )  # fmt: skip
    print(f"mean val Sharpe over {len(cfg.markets)} markets: {means}; {extra['selection']}")


def pin_markets_argv(argv: list[str], cfg: RunConfig) -> list[str]:
    """``argv`` with ``--env`` set to the run's market key(s) and the market flags dropped
    (``envs.marketspec.pin_market_argv``, which knows one ``--env`` value): what a seed group's
    workers run, from any folder."""
    keys = cfg.markets or [cfg.env_name]
    out: list[str] = []
    skipping = False
    for arg in argv:  # --env takes several values here: drop them all
        if arg == "--env" or arg.startswith("--env="):
            skipping = arg == "--env"
            continue
        if skipping and not arg.startswith("-"):
            continue
        skipping = False
        out.append(arg)
    return [*pin_market_argv(out, keys[0]), *keys[1:]]
