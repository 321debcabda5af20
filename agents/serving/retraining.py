"""Scheduled retraining: retrain a registered model on new data; promote only if it wins.

    python -m agents.retrain --model NAME [--market SPEC | --exchange binance --symbol BTC/USDT]
        [--window rolling|expanding] [--train-days 365] [--val-days 60] [--asof ISO]
        [--root models] [--work-dir DIR]

Steps: read the data (``--market``: a preset, candle file or catalog entry through
``envs.market.resolve_market``, default the model's registered market; ``--exchange/--symbol``:
``envs.data.fetch`` appends the new closed candles to ``--candles-out`` first), cut the window
ending at the last bar (or ``--asof``): val = the last ``--val-days``, train = the
``--train-days`` before it (``rolling``) or everything before it (``expanding``); train a
candidate with the registered version's own config (tree runs through ``supervised.trees``,
PPO/SAC runs through ``agents.ppo``/``agents.sac`` with their ``config.yaml``); backtest the
candidate AND the current LATEST over that same val window with the market's costs
(``backtest.runner.run_policy``); promote the candidate only if its val Sharpe is strictly
higher (a tie keeps the incumbent; an incumbent that cannot be scored, non-finite Sharpe, loses).

Recorded: both results in the new version's ``registry.json`` (``retrain``) when promoted, one
line per attempt in ``models/NAME/retrain.jsonl`` either way, and the candidate as a trial in
the market's ledger (``lab.ledger``, source ``retrain``). Exit 0 whether promoted or kept; 2 with
one line on bad input. Cron (hourly data, retrain weekly on Monday 02:15 UTC)::

    15 2 * * 1  cd /path/to/rltrade-lab && .venv/bin/python -m agents.retrain --model trees_btc
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from agents.acting.loading import load_run
from agents.learners import LEARNERS, require
from agents.serving.model_registry import RegistryError, promote, resolve
from agents.serving.serve_config import default_models_root
from backtest.runner import run_policy
from envs.data import load_candles
from envs.data.fetch import fetch_candles, make_exchange
from envs.data.fetch_checks import check_symbol
from envs.markets import resolve_market
from envs.presets import PRESETS, get_preset
from lab.config import ConfigError
from lab.ledger import NO_LEDGER_ENV, append_record, default_runs_root, ledger_enabled, make_record
from lab.ledger_returns import run_returns
from lab.rundir import utc_now
from supervised.trees.train import TreeCheckError, train

WINDOW_KINDS = ("rolling", "expanding")
ISO = "%Y-%m-%dT%H:%M:%S"


@dataclass(frozen=True)
class RetrainWindow:
    """Train and val date ranges (half-open, bar open times, UTC)."""

    train: tuple[str, str]
    val: tuple[str, str]

    def splits(self) -> dict[str, tuple[str, str]]:
        """The train and val date spans, as a market's ``splits``."""
        return {"train": self.train, "val": self.val}


def window_splits(
    index: pd.DatetimeIndex,
    bar: pd.Timedelta,
    *,
    kind: str,
    train_days: float,
    val_days: float,
    asof: pd.Timestamp | None = None,
) -> RetrainWindow:
    """The most recent ``val_days`` before ``asof`` (default: after the last bar) for val, and
    ``train_days`` before it (rolling) or everything before it (expanding) for train."""
    if kind not in WINDOW_KINDS:
        raise ValueError(f"--window {kind!r}: use one of {', '.join(WINDOW_KINDS)}")
    if val_days <= 0 or train_days <= 0:
        raise ValueError(f"--train-days {train_days} / --val-days {val_days}: both must be > 0")
    end = index[-1] + bar if asof is None else pd.Timestamp(asof)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    val_start = (end - pd.Timedelta(days=val_days)).floor(bar)
    start = (
        index[0]
        if kind == "expanding"
        else max(index[0], val_start - pd.Timedelta(days=train_days))
    )
    if start >= val_start or val_start < index[0]:
        raise ValueError(
            f"the data ({index[0]} .. {index[-1]}) is too short for {val_days:g} val days "
            f"before {end}; fetch more history or lower --val-days"
        )
    fmt = lambda t: pd.Timestamp(t).strftime(ISO)  # noqa: E731
    return RetrainWindow((fmt(start), fmt(val_start)), (fmt(val_start), fmt(end)))


@contextlib.contextmanager
def window_market(base: Any, window: RetrainWindow) -> Iterator[str]:
    """Register ``base`` with the window's splits as a preset (a name unique to the data and the
    window, so the env cache never mixes windows) for the duration of the retrain."""
    tag = f"{window.train[0][:10]}_{window.val[1][:13]}".replace("-", "").replace("T", "h")
    name = f"{base.name}_rt_{tag}_{(base.candles.sha256 or 'nohash')[:8]}"
    note = f"retrain window: train {window.train}, val {window.val}"
    PRESETS[name] = replace(base, name=name, splits=window.splits(), split_note=note)
    try:
        yield name
    finally:
        PRESETS.pop(name, None)


def tree_argv(cfg: dict[str, Any], market: str, run_dir: Path) -> list[str]:
    """``supervised.trees`` flags reproducing a tree run's ``config.yaml`` on ``market``."""
    argv = ["--env", market, "--run-dir", str(run_dir)]
    flags = {"feature_set": "--feature-set", "window": "--window", "labels": "--labels",
             "horizon": "--horizon", "seed": "--seed", "fee_bps": "--fee-bps",
             "slippage_bps": "--slippage-bps", "correction": "--correction",
             "max_train_samples": "--max-train-samples", "max_val_bars": "--max-val-bars"}  # fmt: skip
    for key, flag in flags.items():
        if cfg.get(key) is not None:
            argv += [flag, str(cfg[key])]
    for k, v in (cfg.get("label_params") or {}).items():
        argv += ["--label-param", f"{k}={v}"]
    if cfg.get("funding") is False:
        argv.append("--no-funding")
    for k, v in (cfg.get("trees") or {}).items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    return argv


@contextlib.contextmanager
def _no_ledger() -> Iterator[None]:
    """The trainers' own ledger records off: they would file the trial under the window's
    temporary market name; ``record_trial`` files it under the real one."""
    old = os.environ.get(NO_LEDGER_ENV)
    os.environ[NO_LEDGER_ENV] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(NO_LEDGER_ENV, None)
        else:
            os.environ[NO_LEDGER_ENV] = old


def train_candidate(kind: str, version_dir: Path, market: str, run_dir: Path) -> Path:
    """Train with the registered version's config on ``market``; return the run folder."""
    cfg = yaml.safe_load((version_dir / "config.yaml").read_text()) or {}
    if kind == "trees":
        try:
            with _no_ledger():  # the trial is recorded once, under the real market (retrain)
                return train(tree_argv(cfg, market, run_dir))
        except TreeCheckError as exc:  # a failed val-class check keeps the run: the registry
            if (run_dir / "metrics.json").is_file():  # refuses it below, naming the check
                print(f"candidate failed its checks: {exc}", file=sys.stderr)
                return run_dir
            raise ValueError(f"candidate training failed: {exc}") from None
    if kind == "sb3":
        algo = str(cfg.get("algo") or "ppo").lower()
        sections = {k: v for k, v in cfg.items() if k in ("env", "policy", algo, "train", "seed")}
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        cfg_file = run_dir.parent / f"{run_dir.name}.config.yaml"
        cfg_file.write_text(yaml.safe_dump(sections, sort_keys=True))
        try:
            entry = require(algo, "retrain")  # the learner table (agents.learners)
        except ConfigError as err:
            raise RegistryError(str(err)) from None
        with _no_ledger():
            return entry.train(
                ["--env", market, "--config", str(cfg_file), "--run-dir", str(run_dir)]
            )
    refusal = LEARNERS["supervised"].refused.get("retrain", "not a retrainable kind")
    raise RegistryError(f"retraining a {kind!r} model is not supported: {refusal}")


def val_summary(run_dir: Path, market: str) -> dict[str, float | None]:
    """The run's backtest over ``market``'s val split with the market's costs (non-finite
    figures as None: the registry and the history are strict JSON)."""
    summary = run_policy(load_run(run_dir), market, "val").summary()
    return {k: float(v) if math.isfinite(float(v)) else None for k, v in summary.items()}


def _score(summary: dict[str, float | None]) -> float:
    s = summary.get("sharpe")
    return -math.inf if s is None else s


def record_trial(
    candidate: Path, base_market: str, sharpe: float | None, extra: dict[str, Any]
) -> None:
    """Append the candidate to the base market's ledger (source ``retrain``)."""
    if not ledger_enabled():
        return
    cfg = yaml.safe_load((candidate / "config.yaml").read_text()) or {}
    algo = str(cfg.get("algo") or extra["kind"])  # ppo / sac for SB3 runs, else the kind
    rec = make_record(market=base_market, source="retrain", algo=algo, config=cfg,
                      seed=cfg.get("seed"), run_dir=candidate.resolve(), val_sharpe=sharpe,
                      periods_per_year=get_preset(base_market).periods_per_year,
                      extra=extra)  # fmt: skip
    append_record(rec, default_runs_root(), **run_returns(candidate))


def _append_history(model_dir: Path, row: dict[str, Any]) -> None:
    """One whole line appended to ``retrain.jsonl``, or nothing: a short write (a full disk, a
    file-size limit) is cut back to the file's earlier size and raised as ENOSPC."""
    path = model_dir / "retrain.jsonl"
    line = (json.dumps(row, sort_keys=True, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
        except OSError:
            os.ftruncate(fd, size)
            raise
        if written != len(line):
            os.ftruncate(fd, size)
            raise OSError(errno.ENOSPC, "the retrain history line was not appended", str(path))
    finally:
        os.close(fd)


def retrain(
    model: str,
    base: Any,
    window: RetrainWindow,
    *,
    root: Path | None = None,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Train a candidate on ``window`` of market ``base`` (a ``Preset``), compare it with the
    current LATEST on the window's val split and promote it only if it scores higher."""
    root = default_models_root() if root is None else root
    version_dir, record = resolve(model, root)
    name = record["name"]
    stamp = utc_now().strftime("%Y%m%dT%H%M%SZ")
    work = work_dir or (root / name / "candidates")
    with window_market(base, window) as market:
        candidate = train_candidate(record["kind"], version_dir, market, work / stamp)
        cand, inc = val_summary(candidate, market), val_summary(version_dir, market)
        better = _score(cand) > _score(inc)
        result = {"kind": record["kind"], "window": window.splits(), "market": base.name,
                  "incumbent": record["version"], "candidate_val": cand,
                  "incumbent_val": inc, "promoted": better, "candidate_dir": str(candidate),
                  "time_utc": stamp}  # fmt: skip
        if better:
            try:
                result["version"] = promote(
                    candidate, name, root, market=base.name, extra={"retrain": result}
                ).name
            except RegistryError as exc:  # the candidate won on val but fails its checks
                result.update(promoted=False, refused=str(exc))
    record_trial(candidate, base.name, cand.get("sharpe"), result)
    _append_history(root / name, result)
    return result


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m agents.retrain`` flags."""
    p = argparse.ArgumentParser(prog="python -m agents.retrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--model", required=True, help="registered NAME (its LATEST is the incumbent)")
    p.add_argument("--market", default=None, help="market spec (default: the model's market)")
    p.add_argument("--catalog", default=None, help="data catalog for --market entries")
    p.add_argument("--exchange", default=None, help="fetch new candles first (with --symbol)")
    p.add_argument("--symbol", default=None)
    p.add_argument("--candles-out", type=Path, default=None, help="file the fetch appends to")
    p.add_argument("--window", default="rolling", choices=WINDOW_KINDS)
    p.add_argument("--train-days", type=float, default=365.0)
    p.add_argument("--val-days", type=float, default=60.0)
    p.add_argument("--asof", default=None, help="end of the val window (default: the last bar)")
    p.add_argument("--root", type=Path, default=default_models_root())
    p.add_argument("--work-dir", type=Path, default=None, help="candidate run folders")
    return p


def _market(a: argparse.Namespace, record: dict[str, Any]) -> Any:

    spec = a.market or record["market"]
    if a.exchange or a.symbol:
        if not (a.exchange and a.symbol and a.candles_out):
            raise ValueError("--exchange needs --symbol and --candles-out (the file to append to)")

        check_symbol(a.symbol)  # before the network

        bar = resolve_market(record["market"]).freq
        fetch_candles(make_exchange(a.exchange), a.symbol, bar, a.candles_out,
                      since=pd.Timestamp("2017-01-01", tz="UTC"))  # fmt: skip
        spec = str(a.candles_out)
    return resolve_market(spec, catalog=a.catalog)


def _asof(text: str | None) -> pd.Timestamp | None:
    """``--asof`` as a UTC timestamp (an offset converted), or one line naming the flag."""
    if text is None:
        return None
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        ts = pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        raise ValueError(f"--asof {text!r}: not a date; write an ISO date, e.g. 2024-06-01")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def main(argv: list[str] | None = None) -> int:
    """Retrain on the newest data and file the candidate; 0, or 2 with one error line."""
    a = build_parser().parse_args(argv)
    try:
        _, record = resolve(a.model, a.root)
        base = _market(a, record)
        index = load_candles(base.candles.path).index
        bar = pd.Timedelta(base.freq)
        asof = _asof(a.asof)
        if asof is not None and asof > index[-1] + bar:
            raise ValueError(
                f"--asof {a.asof} is after the data's last bar ({index[-1]:%Y-%m-%d %H:%M}Z); "
                "fetch newer candles or give an earlier --asof"
            )
        window = window_splits(index, bar, kind=a.window, train_days=a.train_days,
                               val_days=a.val_days, asof=asof)  # fmt: skip
        res = retrain(a.model, base, window, root=a.root, work_dir=a.work_dir)
    except (RegistryError, ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    c, i = (float(res[k].get("sharpe") or "nan") for k in ("candidate_val", "incumbent_val"))
    verdict = f"promoted as {res['version']}" if res["promoted"] else "kept the incumbent"
    if res.get("refused"):
        verdict += f" ({res['refused']})"
    print(f"{a.model}: candidate val Sharpe {c:+.3f} vs {res['incumbent']} {i:+.3f} on "
          f"{window.val[0]}..{window.val[1]}: {verdict}")  # fmt: skip
    return 0
