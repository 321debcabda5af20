"""The decision for the latest closed bar, from a registered model and a candle file.

    python -m agents.predict --model NAME[@vN] --candles FILE [--json] [--root models] [--replay]
    python -m agents.predict --model NAME --exchange binance --symbol BTC/USDT [--candles-out F]
        [--funding FILE] [--position 0] [--entry-price P] [--bars-held 0] [--now ISO]

Pipeline (the training pipeline, applied to the file's tail): load and validate the candles
(``envs.data.load_candles``), keep the last ``--tail-bars`` (default: what the feature warm-up
and the window need, x4), clean them as training did (``envs.data.clean``), compute the model's
feature set with the market's funding history (``--funding``, default the registered market's
funding file), normalise with the model's own ``normaliser.json`` and build the env's
``MarketData``. The observation of the last bar is the env's (window of normalised features
plus the account state given by ``--position/--entry-price/--bars-held``, flat by default), and
the policy is the one ``evaluate`` steps (``agents.acting.loading.load_run`` on the version folder).

Refused with one line (exit 2): the last bar not closed yet at ``--now`` (default: the clock),
the file stale (a later bar has closed since; a recorded file: ``--replay`` sets the clock to
its last bar's close, as in ``agents.paper``), or a gap or invalid feature row inside the bars
the last observation needs, or a context market (a model trained with ``env.context``) without
the decision bar (``--context-candles FILE``, default the recorded context market's file).
A funding history that ends before the decision is stated on
stderr (``warning: funding stale: ...``: its last settlement and its age) and in the JSON's
``funding_note``: the funding features then carry the last rate and no later funding is charged.

A policy with memory (recurrent PPO) decides with the state it reaches by trading the loaded
candles itself, from the decision bar's segment start (``agents.serving.policy_memory``: a
backtest with its own costs; the JSON's ``memory`` says over how many decisions and from when);
the account it decides for is still the one the flags give.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.acting.fast_policy import load_fast
from agents.serving.ensemble_registry import ServedEnsemble, load_ensemble
from agents.serving.model_registry import RegistryError, resolve
from agents.serving.policy_memory import warm_state
from agents.serving.serve_config import PredictConfig
from agents.serving.served_rules import check_served_position, rule_lookback, served_target
from backtest.policy import is_stateful
from envs.accounting import account_observation
from envs.barsize import step_ns
from envs.data import clean, load_candles, load_funding
from envs.data.fetch import fetch_candles, make_exchange
from envs.data.fetch_checks import check_symbol
from envs.features import compute_features, warmup_bars
from envs.market import MarketData
from envs.multiframe import daily_stride
from envs.normalisers import pick_normaliser
from envs.presets import get_preset
from envs.registry import load_context
from lab.config import ConfigError, add_fields, flag_of, from_args

ACTION_NAMES = ("SELL", "HOLD", "BUY")
SOURCE_FIELDS = ("candles", "exchange")  # the candles come from a file or an exchange


class StaleInputError(ValueError):
    """The candles cannot give a decision for the latest closed bar (one line, exit 2)."""


@dataclass
class Decision:
    """One served decision: the bar it is for, the target position and the probabilities."""

    model: str
    bar_open_utc: str  # the decision bar's open time
    bar_close_utc: str  # its close: the decision instant
    features_asof_utc: str  # the feature values' timestamp (bar t's close; nothing later)
    action: int | None
    target_position: float
    probabilities: dict[str, float] | None
    funding_note: str | None = None  # the funding history ends before the decision (stale)
    # the action's own target before the model's action rules (envs.actions); target_position
    # is the position the account trades to under them (equal without rules)
    action_target: float | None = None
    memory: str | None = None  # a recurrent policy's state: what it was warmed over
    members: dict[str, float] | None = None  # an ensemble's members: each one's proposed position


def account_slots(
    close: float, position: float = 0.0, entry_price: float | None = None, bars_held: int = 0,
    drawdown: float = 0.0,
) -> np.ndarray:  # fmt: skip
    """The env's 4 account values for a live account (``envs.accounting.account_observation``,
    the env reference's own function): a flat account's entry price and bars held do not
    count (the env keeps neither for a flat account)."""
    flat = position == 0.0 or not entry_price
    entry = close if flat else float(entry_price)  # type: ignore[arg-type]  # not flat: a price
    return account_observation(position, entry, close, drawdown, 0 if flat else bars_held)


def funding_note(funding: pd.Series | None, decision_close: pd.Timestamp) -> str | None:
    """One line when the funding history ends before the decision: its last settlement, how
    old it is at the decision bar's close and the cadence (None: current, or no funding)."""
    if funding is None or len(funding) < 2:
        return None
    idx = funding.index
    cadence = pd.Series(idx).diff().median()  # e.g. 8 h between settlements
    known = idx[idx <= decision_close]
    if len(known) and decision_close - known[-1] <= cadence:
        return None
    hours = cadence / pd.Timedelta("1h")
    if not len(known):
        return (
            f"funding history starts at {idx[0]:%Y-%m-%d %H:%M}Z, after the decision bar's "
            f"close {decision_close:%Y-%m-%d %H:%M}Z: the funding features read 0, as before a "
            "contract's listing; if it was listed, give a --funding file that covers the candles"
        )
    age = (decision_close - known[-1]) / pd.Timedelta("1h")
    days = f" ({age / 24:.1f} days)" if age >= 48 else ""
    return (
        f"funding stale: the last settlement in the funding history is "
        f"{known[-1]:%Y-%m-%d %H:%M}Z, {age:g} h{days} before the decision bar's close "
        f"{decision_close:%Y-%m-%d %H:%M}Z (settlements every {hours:g} h): the funding "
        "features carry its rate and no later funding is charged; give a current --funding FILE"
    )


def serve_context(
    record: dict[str, Any], context: pd.DataFrame | None, decision_open: pd.Timestamp, freq: str
) -> pd.DataFrame | None:
    """The cross-asset context candles (cleaned) of a model trained with ``env.context``: the
    given ones (``--context-candles``) or the recorded context market's data; None without a
    context. One that has no bar at the decision bar is refused (the features would read
    ``ctx_available`` 0 there: a stale context file, not a market gap)."""
    if not record.get("context"):
        return None
    ctx = load_context(record["context"], freq) if context is None else clean(context, freq=freq)[0]
    if decision_open not in ctx.index:
        last = f"{ctx.index[-1]:%Y-%m-%d %H:%M}Z" if len(ctx) else "no bar"
        raise StaleInputError(
            f"context candles ({record['context']}): no bar opening at the decision bar "
            f"{decision_open:%Y-%m-%d %H:%M}Z (last: {last}); give current candles of the "
            "context market with --context-candles FILE"
        )
    return ctx


def serve_market(
    candles: pd.DataFrame,
    funding: pd.Series | None,
    record: dict[str, Any],
    normaliser: Any,
    context: pd.DataFrame | None = None,
) -> Any:
    """The env's ``MarketData`` of ``candles`` with the model's feature set, normaliser, context
    market (``serve_context``; ``context``: its candles, default the recorded market's) and
    daily rows: the training layout (``envs.multiframe.extra_layout``)."""
    freq = get_preset(record["market"]).freq
    cleaned, _ = clean(candles, freq=freq)
    ctx = serve_context(record, context, cleaned.index[-1], freq) if len(cleaned) else None
    raw = compute_features(cleaned, record["feature_set"], funding=funding, freq=freq, context=ctx)
    values = pick_normaliser(normaliser, get_preset(record["market"])).transform(raw)
    return MarketData.build(cleaned, values, funding, window=int(record["window"]), freq=freq,
                            feature_names=tuple(raw.columns),
                            daily_window=int(record.get("daily_window", 0)))  # fmt: skip


def check_fresh(market: Any, now: dt.datetime, source: str) -> int:
    """Index of the last bar; refuse a bar not closed at ``now``, a stale file, or a gap."""
    t = market.n_bars - 1
    step = pd.Timedelta(market.freq_ns, "ns")
    opened = pd.Timestamp(int(market.timestamps[t]), unit="ns", tz="UTC")
    now_ts = pd.Timestamp(now)
    if opened + step > now_ts:
        raise StaleInputError(
            f"{source}: the last bar (open {opened:%Y-%m-%d %H:%M}Z) is not closed at "
            f"{now_ts:%Y-%m-%d %H:%M}Z; drop the forming bar or wait for its close"
        )
    if opened + 2 * step <= now_ts:
        raise StaleInputError(
            f"{source}: stale, the last bar closed at {opened + step:%Y-%m-%d %H:%M}Z but bars "
            f"have closed since (now {now_ts:%Y-%m-%d %H:%M}Z); fetch fresh candles "
            "(a recorded file: add --replay)"
        )
    if not market.obs_ok[t]:
        seg = market.segment
        start = int(np.flatnonzero(seg == seg[t])[0])
        at = pd.Timestamp(int(market.timestamps[start]), unit="ns", tz="UTC")
        raise StaleInputError(
            f"{source}: incomplete input, the last observation's window and feature warm-up "
            f"need {market.window} valid bars after a gap; the data restarts at "
            f"{at:%Y-%m-%d %H:%M}Z ({t - start + 1} bars before the decision); fill the gap"
        )
    return t


def load_policy(vdir: Path, record: dict[str, Any]) -> Any:
    """The version's ``PolicySpec``: a discrete PPO through ``agents.acting.fast_policy`` (no SB3
    import), an ensemble through ``agents.serving.ensemble_registry``, anything else (or a PPO it does not recognise) through ``load_run``."""
    if record.get("kind") == "ensemble":  # every member through the same safe loaders
        return load_ensemble(vdir, record)
    if record.get("kind") == "sb3":
        spec = load_fast(vdir)
        if spec is not None:
            return spec
    from agents.acting.loading import load_run  # torch + SB3 (seconds): only off the numpy path

    return load_run(vdir)


def decide(
    model: str,
    candles: pd.DataFrame,
    *,
    now: dt.datetime,
    root: Path | None = None,
    funding: pd.Series | None = None,
    account: np.ndarray | None = None,
    source: str = "candles",
    context: pd.DataFrame | None = None,
    position: float = 0.0,
    bars_since_trade: int | None = None,
) -> Decision:
    """The decision of registered ``model`` for the last bar of ``candles`` (see module doc):
    the policy's action under the model's action rules (``agents.serving.served_rules``) for an
    account at ``position`` that last traded ``bars_since_trade`` bars ago (None: long ago)."""
    from gymnasium import spaces

    vdir, record = resolve(model, root)
    spec = load_policy(vdir, record)
    market = serve_market(candles, funding, record, spec.normaliser, context)
    t = check_fresh(market, now, source)
    acct = account_slots(float(market.close[t])) if account is None else account
    obs = market.observation(t, acct)  # the env's row (daily rows included): no serving copy
    discrete = spec.env_settings.get("action", "discrete") == "discrete"
    space = spaces.Discrete(3) if discrete else spaces.Box(-1.0, 1.0, (1,), np.float32)
    act, p, memory = _act(spec, market, t, obs, space)
    probs = None if p is None else {n: float(v) for n, v in zip(ACTION_NAMES, p, strict=True)}
    opened = pd.Timestamp(int(market.timestamps[t]), unit="ns", tz="UTC")
    closed = opened + pd.Timedelta(market.freq_ns, "ns")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    action = int(act.reshape(-1)[0]) if discrete else None
    proposals = None
    if isinstance(spec.policy, ServedEnsemble):
        proposals = spec.policy.proposals(obs[None, :], np.array([t], dtype=np.int64))
    raw, target = served_target(spec.env_settings, market, t, act, position, bars_since_trade,
                                source)  # fmt: skip
    return Decision(f"{record['name']}@{record['version']}", opened.strftime(iso),
                    closed.strftime(iso), closed.strftime(iso), action, target, probs,
                    funding_note(funding, closed), raw, memory, proposals)  # fmt: skip


def _act(
    spec: Any, market: MarketData, t: int, obs: np.ndarray, space: Any
) -> tuple[np.ndarray, np.ndarray | None, str | None]:
    """``(action, probabilities or None, memory note or None)`` of ``spec``'s policy on bar
    ``t``; a stateful policy decides with the state warmed over the loaded candles
    (``agents.serving.policy_memory.warm_state``)."""
    bars = np.array([t], dtype=np.int64)
    if is_stateful(spec.policy):
        warmed = warm_state(spec, market, t)
        spec.policy.bind(market, space)
        act, _ = spec.policy.act_state(obs[None, :], bars, warmed.state)
        probs = None
        if getattr(spec.policy, "probabilistic", False):
            probs, _ = spec.policy.probs_state(obs[None, :], bars, warmed.state)
        return np.asarray(act), None if probs is None else probs[0], warmed.note(market)
    spec.policy.bind(market, space)
    act = np.asarray(spec.policy.act(obs[None, :], bars))
    if not getattr(spec.policy, "probabilistic", False):
        return act, None, None
    return act, np.asarray(spec.policy.action_probs(obs[None, :], bars))[0], None


def fetch_feed(
    exchange: Any, symbol: str, record: dict[str, Any], out: Path, now: pd.Timestamp, bars: int
) -> Path:
    """Append the exchange's newest closed candles to ``out`` (``envs.data.fetch``: paginated,
    overlap-verified, closed bars only); a new file starts ``bars`` bars before ``now``."""
    freq = get_preset(record["market"]).freq
    out.parent.mkdir(parents=True, exist_ok=True)
    since = (now - bars * pd.Timedelta(freq)).floor(freq)
    fetch_candles(exchange, symbol, freq, out, since=since, now=now)
    return out


def feed_path(root: Path, exchange: str, symbol: str, record: dict[str, Any]) -> Path:
    """Where ``--exchange`` candles are kept between calls (``<root>/.feeds/``)."""
    safe = "".join(c for c in symbol.upper() if c.isalnum())
    return root / ".feeds" / f"{exchange}_{safe}_{get_preset(record['market']).freq}.csv.gz"


def serve_lookback(record: dict[str, Any]) -> int:
    """Bars the last observation reaches back: feature warm-up, window and the daily rows."""
    freq = get_preset(record["market"]).freq
    daily = max(int(record.get("daily_window", 0)) - 1, 0) * daily_stride(step_ns(freq))
    return warmup_bars(record["feature_set"], freq) + int(record["window"]) + daily


def read_inputs(
    a: PredictConfig, record: dict[str, Any], now: pd.Timestamp | None = None, rule_bars: int = 0
) -> tuple[pd.DataFrame, Any]:
    """The candle tail and the funding history (explicit file, or the market's, or none);
    with ``--exchange``, the candles are fetched first into the feed file. ``rule_bars``: the
    history the model's action rules read (``served_rules.rule_lookback``), added to the tail."""
    tail = a.tail_bars or 4 * serve_lookback(record) + rule_bars
    if a.exchange:
        if not a.symbol:
            raise ValueError("--exchange needs --symbol (e.g. BTC/USDT)")
        out = a.candles_out or feed_path(a.root, a.exchange, a.symbol, record)
        a.candles = str(fetch_feed(make_exchange(a.exchange), a.symbol, record, Path(out),
                                   now if now is not None else pd.Timestamp.now(tz="UTC"), tail))  # fmt: skip
    assert a.candles is not None  # --candles or --exchange: a required either/or group
    candles = load_candles(a.candles)
    if a.tail_bars != 0:
        candles = candles.iloc[-tail:]
    funding = load_funding(a.funding) if a.funding else load_funding(record["market"])
    return candles, funding


def build_parser() -> argparse.ArgumentParser:
    """One flag per ``PredictConfig`` field (help from its doc)."""
    p = argparse.ArgumentParser(prog="python -m agents.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_fields(p, PredictConfig, config_flag=False, skip=SOURCE_FIELDS)
    src = p.add_mutually_exclusive_group(required=True)  # one source of candles: either/or
    for name in SOURCE_FIELDS:
        f = PredictConfig.__dataclass_fields__[name]
        src.add_argument(flag_of(name), dest=name, default=argparse.SUPPRESS,
                         help=f"{name}: {f.metadata['doc']}")  # fmt: skip
    return p


def check_account_flags(a: PredictConfig) -> None:
    """Flags that contradict each other are refused, not silently dropped: an entry price or
    bars held of a flat account, a position without its entry price (its unrealised P&L slot
    would read 0), ``--now`` with ``--replay`` (the replay clock is the last bar's close), a
    ``--symbol`` that is not ccxt's BASE/QUOTE."""
    if a.position == 0.0 and (a.entry_price is not None or a.bars_held):
        raise ConfigError(
            "--entry-price/--bars-held describe an open position, but --position is 0 (flat); "
            "give --position too, or drop them"
        )
    if a.position != 0.0 and a.entry_price is None:
        raise ConfigError(
            f"--position {a.position:g} needs --entry-price (the position's unrealised P&L is "
            "part of the observation)"
        )
    if a.replay and a.now is not None:
        raise ConfigError("--replay sets the clock to the last bar's close; drop --now or --replay")
    if a.symbol is not None:
        check_symbol(a.symbol)


def main(argv: list[str] | None = None) -> int:
    """Print one decision for the last closed bar; 0, or 2 with one error line."""
    try:
        a: PredictConfig = from_args(PredictConfig, build_parser().parse_args(argv), False)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        check_account_flags(a)
    except ValueError as exc:  # ConfigError, DataValidationError (the symbol)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        now = pd.Timestamp(a.now) if a.now else pd.Timestamp.now(tz="UTC")
    except ValueError:
        print(f"error: --now {a.now!r}: not an ISO time (e.g. 2024-01-01T12:00Z)", file=sys.stderr)
        return 2
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    try:
        vdir, record = resolve(a.model, a.root)
        check_served_position(vdir, a.position)
        candles, funding = read_inputs(a, record, now, rule_lookback(vdir))
        if a.replay:  # the clock stands at the last bar's close
            now = candles.index[-1] + pd.Timedelta(get_preset(record["market"]).freq)
        close = float(candles["close"].iloc[-1])
        acct = account_slots(close, a.position, a.entry_price, a.bars_held)
        context = load_candles(a.context_candles) if a.context_candles else None
        d = decide(a.model, candles, now=now.to_pydatetime(), root=a.root, funding=funding,
                   account=acct, source=str(a.candles), context=context, position=a.position,
                   bars_since_trade=a.bars_since_trade)  # fmt: skip
    except (StaleInputError, RegistryError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if d.funding_note:
        print(f"warning: {d.funding_note}", file=sys.stderr)
    if a.json:
        print(json.dumps(asdict(d)))
    else:
        probs = (
            ""
            if d.probabilities is None
            else " probs " + " ".join(f"{k} {v:.3f}" for k, v in d.probabilities.items())
        )
        print(f"{d.model}: bar {d.bar_open_utc} (closed {d.bar_close_utc}) -> target position "
              f"{d.target_position:+g}{probs}; features as of {d.features_asof_utc}")  # fmt: skip
    return 0
