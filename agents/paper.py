"""Paper trading: at each bar close decide with a registered model, fill at the next open.

    python -m agents.paper --model NAME[@vN] --candles FILE --state DIR [--root models] [--now ISO]

Each call is one tick: read the closed candles (``--candles``: a file standing for the
exchange; tests replay recorded candles through a fake exchange), decide on the latest closed
bar, and persist the state (``DIR/state.json``, written atomically: the decisions log, equity and
position) so a restart continues where it stopped. Each tick also writes TensorBoard scalars
(``DIR/tb``: equity, position, costs, funding and the live period's Sharpe, drawdown, return).

Accounting is the env's own: the decisions log is replayed through ``envs.TradingEnv`` on the
market built from the candles (``agents.predict.serve_market``), so each decision fills at the
next bar's open with the env's fee, slippage and funding, exactly as in a backtest. A bar that
closed while the trader was down is a **missed** decision: it is logged as such and keeps the
previous target (no trade), as the env's held action would; the trader then decides on the
latest closed bar only (never retroactively).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agents.loading import load_run
from agents.predict import StaleInputError, check_fresh, serve_market
from agents.registry import MODELS_DIR, RegistryError, resolve
from agents.serve_config import PaperConfig
from backtest.metrics import summarize
from envs.data import load_candles, load_funding
from envs.presets import get_preset
from envs.trading_env import TradingEnv
from lab.atomic import atomic_write_json
from lab.config import add_fields, from_args

STATE_FILE = "state.json"
TB_DIR = "tb"  # TensorBoard scalars, one point per tick: tensorboard --logdir DIR/tb
ISO = "%Y-%m-%dT%H:%M:%SZ"


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
    return state


def replay(
    env: Any, market: Any, decisions: list[dict[str, Any]], periods_per_year: float = 8760
) -> tuple[Any, dict[str, Any]]:
    """Step the env through the logged decisions; the observation after the last one, the
    account it reached and the same metrics as ``evaluate`` over the live period."""
    ts = {int(v): i for i, v in enumerate(market.timestamps)}
    first = ts[pd.Timestamp(decisions[0]["bar_open_utc"]).value] if decisions else None
    obs, info = env.reset(options={"start": first}) if decisions else (None, {})
    rows = []  # per bar: equity, position, fee + slippage, funding
    for d in decisions:
        obs, _r, term, _trunc, info = env.step(int(d["action"]))
        rows.append((info["equity"], info["position"], info["fee"] + info["slippage"],
                     info["funding"]))  # fmt: skip
        if term:
            raise RuntimeError("the paper account is ruined; start a new --state folder")
    eq, pos, cost, fund = (
        (np.asarray(c, dtype=np.float64) for c in zip(*rows, strict=True))
        if (rows)
        else (np.zeros(0),) * 4
    )
    equity = np.concatenate([[float(env.params.initial_equity)], eq])
    acct: dict[str, Any] = {
        "equity": float(equity[-1]),
        "position": float(pos[-1]) if len(pos) else 0.0,
        "costs": float(cost.sum()),
        "funding": float(fund.sum()),
    }
    if len(pos) >= 2:
        m = summarize(equity, pos, periods_per_year=periods_per_year, fees=cost, funding=fund)
        acct["metrics"] = {k: (float(v) if np.isfinite(v) else None) for k, v in m.items()}
    return obs, acct


def tick(model: str, candles: pd.DataFrame, state_dir: Path, *, now: Any, root: Path = MODELS_DIR,
         funding: pd.Series | None = None) -> dict[str, Any]:  # fmt: skip
    """One bar close: log missed bars, decide on the latest closed bar, save the state."""
    vdir, record = resolve(model, root)
    spec = load_run(vdir)
    state = _load_state(state_dir, model)
    market = serve_market(candles, funding, record, spec.normaliser)
    t = check_fresh(market, now, "candles")
    last = pd.Timestamp(int(market.timestamps[t]), unit="ns", tz="UTC")
    log = state["decisions"]
    if log and pd.Timestamp(log[-1]["bar_open_utc"]) >= last:
        return state  # this bar was already decided
    if log:  # bars that closed while we were down: keep the previous target
        prev = pd.Timestamp(log[-1]["bar_open_utc"])
        step = pd.Timedelta(market.freq_ns, "ns")
        for b in pd.date_range(prev + step, last - step, freq=step):
            log.append({"bar_open_utc": b.strftime(ISO), "action": log[-1]["action"],
                        "missed": True})  # fmt: skip
    costs = {
        k: v for k, v in spec.trained_costs.items() if k in ("fee_bps", "slippage_bps", "funding")
    }
    env = TradingEnv(market, (0, market.n_bars), max_drawdown=None, episode_length=None, **costs)

    obs, acct = replay(env, market, log, get_preset(record["market"]).periods_per_year)
    if obs is None:  # the first decision: a flat account
        obs = np.concatenate([market.features[t - market.window + 1 : t + 1].ravel(),
                              np.zeros(4, np.float32)])  # fmt: skip
    from gymnasium import spaces

    spec.policy.bind(market, spaces.Discrete(3))
    action = int(np.asarray(spec.policy.act(obs[None, :].astype(np.float32), np.array([t])))[0])
    log.append({"bar_open_utc": last.strftime(ISO), "action": action, "missed": False})
    state.update(
        version=record["version"], account=acct, position_target=float(action - 1),
        updated_for_bar_utc=last.strftime(ISO),
    )  # fmt: skip
    atomic_write_json(state_dir / STATE_FILE, state)
    write_scalars(state_dir / TB_DIR, len(log) - 1, state)
    return state


def write_scalars(tb_dir: Path, step: int, state: dict[str, Any]) -> None:
    """This tick's TensorBoard scalars (step = the decision's index in the log; a restart
    never rewrites a step: an already decided bar returns before this)."""
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


def main(argv: list[str] | None = None) -> int:
    """One paper-trading tick from the command line; 0, or 2 with one error line."""
    p = argparse.ArgumentParser(prog="python -m agents.paper", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    add_fields(p, PaperConfig, config_flag=False)
    a: PaperConfig = from_args(PaperConfig, p.parse_args(argv), config_file=False)

    try:
        now = pd.Timestamp(a.now) if a.now else pd.Timestamp.now(tz="UTC")
    except ValueError:
        print(f"error: --now {a.now!r}: not an ISO time (e.g. 2024-01-01T12:00Z)", file=sys.stderr)
        return 2
    try:
        _, record = resolve(a.model, a.root)
        candles = load_candles(a.candles)
        now = now.tz_localize("UTC") if now.tzinfo is None else now
        state = tick(a.model, candles, a.state, now=now, root=a.root,
                     funding=load_funding(record["market"]))  # fmt: skip
    except (StaleInputError, RegistryError, FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{a.model}: bar {state['updated_for_bar_utc']} target {state['position_target']:+g} "
          f"equity {state['account']['equity']:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    from lab.cli import run_cli  # disk full, read-only folder, Ctrl-C: one line (lab.cli)

    raise SystemExit(run_cli(main))
