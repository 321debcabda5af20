"""Paper trading: at each bar close decide with a registered model, fill at the next open.

    python -m agents.paper --model NAME[@vN] --candles FILE --state DIR [--root models]
        [--replay | --now ISO] [--funding FILE] [--tail-bars N]

Each call is one tick: read the closed candles (``--candles``: a file standing for the
exchange; tests replay recorded candles through a fake exchange), decide on the latest closed
bar, and persist the state (``DIR/state.json``, written atomically: the decisions log, equity,
position and the account itself) so a restart continues where it stopped. Each tick also
writes TensorBoard scalars (``DIR/tb``: equity, position, costs, funding and the live period's
Sharpe, drawdown, return).

The clock is the machine's (``--now ISO`` stands for it); ``--replay`` sets it to the last
bar's close, for a recorded file (the same flag as ``agents.predict``'s). A file whose last
bar closed more than a bar ago is refused as stale, one whose last bar is older than the
account's last decision as older than the state.

Accounting is the env's own (``envs.accounting``: ``Account`` and ``reference_step``, held bit
for bit to the env's kernel by its tests): the account as of the last accounted bar is kept in
the state (``book``), and each tick steps it over the bars that closed since, each decision
filling at the next bar's open with the env's fee, slippage and funding, exactly as in a
backtest. Only those bars are read from the candles, so the account survives a rotated feed
(a file that no longer holds its first decisions); each accounted bar's equity, position, costs
and funding stay in the decisions log, from which the live period's metrics are computed. A bar
that closed while the trader was down is a **missed** decision: it is logged as such and keeps
the previous target (no trade), as the env's held action would; the trader then decides on the
latest closed bar only (never retroactively). A model trained with ``decision_interval=k``
decides every k bars from its first decision and holds its action in between (logged
``held``), as ``evaluate`` backtests it. A policy with memory (recurrent PPO) keeps its state in
``state.json`` (``memory``) from tick to tick, starting at zero at the account's first decision
(``agents.serving.policy_memory`` says why and what steps it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from gymnasium import spaces

from agents.acting.loading import load_run
from agents.serving.ensemble_registry import load_ensemble
from agents.serving.model_registry import RegistryError, resolve
from agents.serving.policy_memory import account_memory, backtest_options, keep_memory
from agents.serving.prediction import (
    StaleInputError,
    check_fresh,
    funding_note,
    serve_lookback,
    serve_market,
)
from agents.serving.serve_config import PaperConfig
from agents.serving.served_rules import check_rule_history, rule_lookback
from backtest.metrics import summarize
from backtest.policy import step
from envs.accounting import Account, account_observation, decision_target, reference_step
from envs.data import load_candles, load_funding
from envs.market import MarketData
from envs.params import EnvParams, EnvTables
from envs.presets import get_preset
from lab.atomic import atomic_write_json
from lab.config import ConfigError, add_fields, from_args

STATE_FILE = "state.json"
TB_DIR = "tb"  # TensorBoard scalars, one point per tick: tensorboard --logdir DIR/tb
ISO = "%Y-%m-%dT%H:%M:%SZ"
OUTCOME = ("equity", "position", "costs", "funding")  # kept per accounted decision


def _load_state(state_dir: Path, model: str) -> dict[str, Any]:
    path = state_dir / STATE_FILE
    if state_dir.exists() and not state_dir.is_dir():
        raise ValueError(f"--state {state_dir}: is a file; give the paper account's folder")
    if not path.is_file():
        return {"model": model, "decisions": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(
            f"{path}: not valid JSON ({err}); the paper state is damaged: restore it or start a "
            "new account with another --state folder"
        ) from None
    if not isinstance(state, dict) or not isinstance(state.get("decisions"), list):
        raise ValueError(
            f"{path}: not a paper state (a JSON object with a decisions list); restore it or "
            "start a new account with another --state folder"
        )
    if state.get("model") != model:
        raise ValueError(f"{path} belongs to model {state.get('model')!r}, not {model!r}")
    bad = _damage(state)
    if bad:
        raise ValueError(
            f"{path}: damaged paper state ({bad}); restore it or start a new account with "
            "another --state folder"
        )
    return state


def _damage(state: dict[str, Any]) -> str | None:
    """What is wrong with a loaded state's decisions log or book (None: usable)."""
    for i, d in enumerate(state["decisions"]):
        ok = isinstance(d, dict) and isinstance(d.get("bar_open_utc"), str)
        action = d.get("action") if ok else None
        if not ok or isinstance(action, bool) or action not in (0, 1, 2):
            return f"decision {i} is not {{bar_open_utc, action 0/1/2}}"
        try:
            pd.Timestamp(d["bar_open_utc"])
        except ValueError:
            return f"decision {i}: bar_open_utc {d['bar_open_utc']!r} is not a time"
    book = state.get("book", {})
    keys = {f.name for f in dataclasses.fields(Account)} - {"t"}
    if "book" in state and not (
        isinstance(book, dict) and isinstance(book.get("bar_utc"), str)
        and all(isinstance(book.get(k), (int, float)) for k in keys)
    ):  # fmt: skip
        return f"the book is not {{bar_utc, {', '.join(sorted(keys))}}}"
    return None


def _ts(market: MarketData, i: int) -> pd.Timestamp:
    return pd.Timestamp(int(market.timestamps[i]), unit="ns", tz="UTC")


def _bar_index(market: MarketData, stamp: str, source: str, what: str) -> int:
    """Index of bar ``stamp`` in ``market``; the feed must still hold it."""
    i = int(np.searchsorted(market.timestamps, pd.Timestamp(stamp).value))
    if i >= market.n_bars or int(market.timestamps[i]) != pd.Timestamp(stamp).value:
        raise StaleInputError(
            f"{source}: no bar {stamp} ({what}); the candles run {_ts(market, 0):{ISO}} .. "
            f"{_ts(market, market.n_bars - 1):{ISO}}: give candles from {stamp} on (with "
            "--tail-bars 0 if it lies further back than the default tail)"
        )
    return i


def _restore(book: dict[str, Any], t: int) -> Account:
    """The stored account, re-indexed to bar ``t`` of this tick's market."""
    fields = {f.name for f in dataclasses.fields(Account)} - {"t"}
    # a book written before a field existed (``since``: the minimum hold) takes its default
    return Account(t=t, **{k: book[k] for k in fields if k in book})


def advance(
    state: dict[str, Any], market: MarketData, params: EnvParams, t: int, source: str
) -> Account:
    """Step the stored account over the bars closed since it was last marked, up to bar ``t``
    (each logged decision filled at the next open), recording each bar's outcome in the log."""
    log = state["decisions"]
    if "book" in state:
        book = state["book"]
        i = _bar_index(market, book["bar_utc"], source, "the paper account's last marked bar")
        acct = _restore(book, i)
    else:  # a state written before the account was kept: replay from its first decision
        first = log[0]["bar_open_utc"]
        i = _bar_index(market, first, source, "the paper account's first decision")
        acct = Account.fresh(params, i, float(market.close[i]))
    pending = {pd.Timestamp(d["bar_open_utc"]).value: d for d in log if "equity" not in d}
    step_ok = EnvTables(market, params, (0, market.n_bars)).step_ok
    step = market.freq_ns
    while acct.t < t:
        if int(market.timestamps[acct.t + 1]) - int(market.timestamps[acct.t]) != step:
            raise StaleInputError(
                f"{source}: a gap after {_ts(market, acct.t):{ISO}} inside the bars the paper "
                "account has to account since its last tick; fill the gap"
            )
        d = pending.get(int(market.timestamps[acct.t]))
        if d is None:
            raise ValueError(
                f"{source}: the paper state logs no decision for bar {_ts(market, acct.t):{ISO}}, "
                "which it has to account; the state is damaged: restore it or start a new "
                "account with another --state folder"
            )
        out = reference_step(acct, _position(d, acct, market, params), market, params, step_ok)
        d.update(equity=out["equity"], position=out["position"],
                 costs=out["fee"] + out["slippage"], funding=out["funding"])  # fmt: skip
        if out["terminated"]:
            raise RuntimeError("the paper account is ruined; start a new --state folder")
    return acct


def _position(d: dict[str, Any], acct: Account, market: MarketData, params: EnvParams) -> float:
    """The position logged decision ``d`` trades to at bar ``acct.t``: a decision goes through the
    model's action rules (``envs.accounting.decision_target``, as the env and the backtest
    runner do); a held or missed bar keeps the position (the runner's ``TradingEnv.hold``)."""
    if d.get("held") or d.get("missed"):
        return acct.pos
    return decision_target(acct, params.targets[int(d["action"])], market, params)


def _store(acct: Account, market: MarketData) -> dict[str, Any]:
    book = {k: v for k, v in dataclasses.asdict(acct).items() if k != "t"}
    return {"bar_utc": _ts(market, acct.t).strftime(ISO), **book}


def account_summary(
    log: list[dict[str, Any]], initial_equity: float, periods_per_year: float
) -> dict[str, Any]:
    """Equity, position, costs and funding of the accounted decisions, and ``evaluate``'s
    metrics over them (two bars or more)."""
    rows = [[float(d[k]) for k in OUTCOME] for d in log if "equity" in d]
    eq, pos, cost, fund = np.asarray(rows, dtype=np.float64).reshape(-1, 4).T
    equity = np.concatenate([[initial_equity], eq])
    acct: dict[str, Any] = {
        "equity": float(equity[-1]),
        "position": float(pos[-1]) if len(pos) else 0.0,
        "costs": float(cost.sum()),
        "funding": float(fund.sum()),
    }
    if len(pos) >= 2:
        m = summarize(equity, pos, periods_per_year=periods_per_year, fees=cost, funding=fund)
        acct["metrics"] = {k: (float(v) if np.isfinite(v) else None) for k, v in m.items()}
    return acct


def _log_missed(log: list[dict[str, Any]], last: pd.Timestamp, step: pd.Timedelta) -> None:
    """Bars that closed while the trader was down: logged, keeping the previous target."""
    prev = pd.Timestamp(log[-1]["bar_open_utc"])
    for b in pd.date_range(prev + step, last - step, freq=step):
        log.append({"bar_open_utc": b.strftime(ISO), "action": log[-1]["action"], "missed": True})


def paper_params(spec: Any, model: str) -> EnvParams:
    """The env settings ``evaluate`` backtests the model with (``backtest.runner.run_policy``):
    its own env settings and trained costs, no drawdown stop, no episode length. A
    continuous-action model is refused (the paper log holds discrete actions)."""
    params = EnvParams.from_kwargs(**backtest_options(spec))
    if params.action != "discrete":
        raise ValueError(
            f"{model}: a continuous-action policy; agents.paper trades discrete SELL/HOLD/BUY "
            "policies (agents.predict gives this model's target position)"
        )
    return params


def decide_bar(
    spec: Any, market: MarketData, t: int, acct: Account, memory: Any = None
) -> tuple[int, Any]:
    """``(action, next memory)``: the policy's action on bar ``t`` for the account ``acct`` (the
    env's observation), a stateful policy stepped from ``memory`` (``backtest.policy.step``)."""
    slots = account_observation(acct.pos, acct.entry, float(market.close[t]), acct.dd, acct.held)
    obs = market.observation(t, np.asarray(slots))  # the env's row (daily rows included)
    spec.policy.bind(market, spaces.Discrete(3))
    action, memory = step(spec.policy, obs[None, :], np.array([t]), memory)
    return int(np.asarray(action).reshape(-1)[0]), memory


def tick(model: str, candles: pd.DataFrame, state_dir: Path, *, now: Any,
         root: Path | None = None, funding: pd.Series | None = None,
         source: str = "candles", context: pd.DataFrame | None = None) -> dict[str, Any]:  # fmt: skip
    """One bar close: log missed bars, account the bars closed since the last tick, decide on
    the latest closed bar, save the state."""
    vdir, record = resolve(model, root)
    spec = load_ensemble(vdir, record) if record["kind"] == "ensemble" else load_run(vdir)
    state = _load_state(state_dir, model)
    market = serve_market(candles, funding, record, spec.normaliser, context)
    t = check_fresh(market, now, source)
    last = _ts(market, t)
    log = state["decisions"]
    if log and pd.Timestamp(log[-1]["bar_open_utc"]) > last:
        raise StaleInputError(
            f"{source}: the last closed bar {last:{ISO}} is older than the paper account's "
            f"state (last decision on bar {log[-1]['bar_open_utc']}); give the current candles"
        )
    if log and pd.Timestamp(log[-1]["bar_open_utc"]) == last:
        return state  # this bar was already decided
    params = paper_params(spec, model)
    if log:
        _log_missed(log, last, pd.Timedelta(market.freq_ns, "ns"))
        acct = advance(state, market, params, t, source)
    else:  # the first decision: a flat account at this bar's close (what the env's reset makes)
        acct = Account.fresh(params, t, float(market.close[t]))
    k = int(spec.env_settings.get("decision_interval", 1))  # as evaluate: decide every k bars
    check_rule_history(market, params, t, source)
    if len(log) % k:  # between two decisions the action is held (backtest.runner.run_env)
        action = int(log[-1]["action"])
        log.append({"bar_open_utc": last.strftime(ISO), "action": action, "missed": False,
                    "held": True})  # fmt: skip
    else:
        memory = account_memory(state, spec, record["version"], state_dir / STATE_FILE)
        action, memory = decide_bar(spec, market, t, acct, memory)
        keep_memory(state, memory, record["version"], last)  # a recurrent policy's state
        log.append({"bar_open_utc": last.strftime(ISO), "action": action, "missed": False})
    target = _position(log[-1], acct, market, params)  # what the next open fills to
    ppy = get_preset(record["market"]).periods_per_year
    closed = last + pd.Timedelta(market.freq_ns, "ns")
    state.update(
        version=record["version"], book=_store(acct, market),
        account=account_summary(log, float(params.initial_equity), ppy),
        position_target=float(target), updated_for_bar_utc=last.strftime(ISO),
        funding_note=funding_note(funding, closed),
    )  # fmt: skip
    atomic_write_json(state_dir / STATE_FILE, state)
    write_scalars(state_dir / TB_DIR, len(log) - 1, state)
    return state


def write_scalars(tb_dir: Path, step: int, state: dict[str, Any]) -> None:
    """This tick's TensorBoard scalars (step = the decision's index in the log; a restart
    never rewrites a step: an already decided bar returns before this)."""
    # torch's TensorBoard writer: imported here, torch is heavy and only this needs it
    from torch.utils.tensorboard import SummaryWriter

    acct = state["account"]
    values = {
        "paper/equity": acct["equity"],
        "paper/position_target": state["position_target"],
        "paper/position": acct["position"],
        "paper/costs": acct["costs"],
        "paper/funding": acct["funding"],
    }
    for k in ("sharpe", "max_drawdown", "total_return"):
        v = (acct.get("metrics") or {}).get(k)
        if v is not None:
            values[f"paper/{k}"] = v
    with SummaryWriter(str(tb_dir)) as w:
        for tag, v in values.items():
            w.add_scalar(tag, float(v), step)


def read_tail(a: PaperConfig, record: dict[str, Any], rule_bars: int = 0) -> pd.DataFrame:
    """The candles' tail: what the feature warm-up and the window need (x4, as in
    ``agents.predict``) plus the history the action rules read (``rule_bars``), reaching back to
    the account's last marked bar; ``--tail-bars 0``: all."""
    candles = load_candles(a.candles)
    if a.tail_bars == 0:
        return candles
    need = serve_lookback(record) + rule_bars
    tail = a.tail_bars or 4 * need
    start = len(candles) - tail
    path = a.state / STATE_FILE
    state = _load_state(a.state, a.model) if path.is_file() else {"decisions": []}
    log = state["decisions"]
    mark = (state.get("book") or {}).get("bar_utc") or (log[0]["bar_open_utc"] if log else None)
    if mark:  # the bars since the account's last mark, plus a warm-up before
        start = min(start, int(candles.index.searchsorted(pd.Timestamp(mark))) - need)
    return candles.iloc[max(start, 0) :]


def _clock(a: PaperConfig) -> pd.Timestamp:
    if a.replay and a.now is not None:
        raise ConfigError("--replay sets the clock to the last bar's close; drop --now or --replay")
    try:
        now = pd.Timestamp(a.now) if a.now else pd.Timestamp.now(tz="UTC")
    except ValueError:
        raise ConfigError(f"--now {a.now!r}: not an ISO time (e.g. 2024-01-01T12:00Z)") from None
    return now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")


def main(argv: list[str] | None = None) -> int:
    """One paper-trading tick from the command line; 0, or 2 with one error line."""
    p = argparse.ArgumentParser(prog="python -m agents.paper", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_fields(p, PaperConfig, config_flag=False)
    try:
        a: PaperConfig = from_args(PaperConfig, p.parse_args(argv), config_file=False)
        now = _clock(a)
        vdir, record = resolve(a.model, a.root)
        candles = read_tail(a, record, rule_lookback(vdir))
        if a.replay:  # the clock stands at the last bar's close
            now = candles.index[-1] + pd.Timedelta(get_preset(record["market"]).freq)
        funding = load_funding(a.funding) if a.funding else load_funding(record["market"])
        context = load_candles(a.context_candles) if a.context_candles else None
        state = tick(a.model, candles, a.state, now=now, root=a.root, funding=funding,
                     source=a.candles, context=context)  # fmt: skip
    except (StaleInputError, RegistryError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if state.get("funding_note"):
        print(f"warning: {state['funding_note']}", file=sys.stderr)
    print(f"{a.model}: bar {state['updated_for_bar_utc']} target {state['position_target']:+g} "
          f"equity {state['account']['equity']:.4f}")  # fmt: skip
    return 0
