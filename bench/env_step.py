"""Env step throughput on the shipped BTC data, against a reference loop and two peers.

Run: ``python bench/env_step.py`` (``--help`` for options). In one run it prints
steps/s (best of ``--repeats`` timings, random actions) for:

(a) reference: a minimal pure-Python loop (position * return accounting plus an
    observation-window slice copy): the floor of what a Python ``step`` costs;
(b) ``envs.TradingEnv`` with every feature on: fees, the "vol" slippage model,
    funding, the drawdown reward (raw env, no gymnasium wrappers);
(c) ``envs.BatchedTradingEnv`` at ``--n-envs`` (env-steps/s), same options;
(m) memory floor of (c): ``np.copyto`` of an ``(n_envs, obs_dim)`` float32 array (one
    memcpy of the observation every batched step must produce), as env-steps/s: no batched
    env that returns a fresh observation array can beat it on this machine;
(d) peers ``gym-anytrading`` (``StocksEnv``) and ``Gym-Trading-Env``
    (``gym_trading_env.environments.TradingEnv``), installed by this script into
    its own venv ``bench/.peers/venv`` (git-ignored) and timed in a subprocess on
    the same BTC closes with the same number of random-action steps (raw envs).

Ratios are printed against the reference and the peers. Timings on a shared CPU
are noisy: compare ratios measured in the same run, not absolute numbers.

The env step is numba-compiled (``envs.kernel``). Its one-off JIT cost is reported
apart and excluded from every rate: a warm-up step runs before the timings, and
``--startup`` (default on) times ``import envs`` + first step in fresh subprocesses,
once with an empty numba cache (compile) and once with it filled (cache load).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PEERS_DIR = ROOT / "bench" / ".peers"
PEER_VENV = PEERS_DIR / "venv"
PEER_PACKAGES = ("gym-anytrading", "gym-trading-env")

PEER_SCRIPT = r"""
import json, sys, time
import numpy as np, pandas as pd
data = np.load(sys.argv[1]); steps = int(sys.argv[2]); window = int(sys.argv[3])
idx = pd.DatetimeIndex(pd.to_datetime(data["ts"], utc=True))
rng = np.random.default_rng(0)
out = {}

def best_rate(env, actions):
    env.reset(seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return [len(actions) / (time.perf_counter() - t0), len(actions) / (time.process_time() - c0)]

try:
    from gym_anytrading.envs import StocksEnv
    df = pd.DataFrame({"Open": data["open"], "High": data["high"], "Low": data["low"],
                       "Close": data["close"], "Volume": data["volume"]}, index=idx)
    env = StocksEnv(df=df, window_size=window, frame_bound=(window, len(df)))
    out["gym-anytrading"] = best_rate(env, rng.integers(0, 2, steps).tolist())
except Exception as e:  # report, never hide
    out["gym-anytrading"] = "error: " + repr(e)
try:
    import gym_trading_env  # noqa: F401
    from gym_trading_env.environments import TradingEnv
    # tz-naive UTC index: this peer reads DatetimeIndex.values (a pandas 3.1 deprecation)
    df = pd.DataFrame({"open": data["open"], "high": data["high"], "low": data["low"],
                       "close": data["close"], "volume": data["volume"]}, index=idx.tz_convert(None))
    # the features of the project's README example
    df["feature_close"] = df["close"].pct_change()
    df["feature_open"] = df["open"] / df["close"]
    df["feature_high"] = df["high"] / df["close"]
    df["feature_low"] = df["low"] / df["close"]
    df["feature_volume"] = df["volume"] / df["volume"].rolling(7 * 24).max()
    df = df.dropna()
    env = TradingEnv(df=df, positions=[-1, 0, 1], trading_fees=0.001,
                     borrow_interest_rate=0.0003 / 100, verbose=0)
    out["gym-trading-env"] = best_rate(env, rng.integers(0, 3, steps).tolist())
except Exception as e:
    out["gym-trading-env"] = "error: " + repr(e)
print(json.dumps(out))
"""


Rate = tuple[float, float]  # (steps per wall-clock second, steps per CPU second of this process)


def _timed(n_steps: int, fn) -> Rate:
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return n_steps / (time.perf_counter() - t0), n_steps / max(time.process_time() - c0, 1e-9)


def reference_rate(
    close: list[float],
    flat: np.ndarray,
    window: int,
    n_feat: int,
    lo: int,
    hi: int,
    actions: list[int],
) -> Rate:
    """Position * return accounting and an observation slice copy: the floor of a Python step."""

    def loop() -> None:
        eq, t = 1.0, lo
        for a in actions:
            pos = a - 1
            eq = eq * (1.0 + pos * (close[t + 1] / close[t] - 1.0))
            t += 1
            obs = flat[(t - window + 1) * n_feat : (t + 1) * n_feat].copy()  # noqa: F841
            if t >= hi:
                t, eq = lo, 1.0

    return _timed(len(actions), loop)


def single_rate(env, actions: list[int]) -> Rate:
    env.reset(seed=0)

    def loop() -> None:
        for a in actions:
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()

    return _timed(len(actions), loop)


def batched_rate(venv_, actions: np.ndarray) -> Rate:
    venv_.seed(0)
    venv_.reset()

    def loop() -> None:
        for row in actions:
            venv_.step(row)

    return _timed(actions.size, loop)


def memcpy_rate(n_envs: int, obs_dim: int, repeats: int) -> Rate:
    """Env-steps/s if a batched step cost exactly one copy of its (n_envs, obs_dim) obs."""
    src = np.random.default_rng(0).standard_normal((n_envs, obs_dim)).astype(np.float32)
    dst = np.empty_like(src)

    def loop() -> None:
        for _ in range(repeats):
            np.copyto(dst, src)

    return _timed(repeats * n_envs, loop)


STARTUP_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import envs
from envs.kernel import step_accounts
t1 = time.perf_counter()
env = envs.make_env("btc1h", split="train", window=int(sys.argv[1]))
env.reset(seed=0)
t2 = time.perf_counter()
env.step(2)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_step_s": t3 - t2,
                  "compiled": len(step_accounts.stats.cache_misses) > 0}))
"""


def startup_times(window: int) -> dict[str, dict[str, float]]:
    """``import envs`` and first-step seconds in fresh interpreters: numba cache cold, warm."""
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
        for label in ("cold cache (JIT compile)", "warm cache (load)"):
            res = subprocess.run(
                [sys.executable, "-c", STARTUP_SCRIPT, str(window)],
                env=env,
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=600,
            )
            if res.returncode != 0:
                raise RuntimeError(f"startup probe failed: {res.stderr.strip()[-500:]}")
            out[label] = json.loads(res.stdout.strip().splitlines()[-1])
    return out


def ensure_peer_venv(reinstall: bool) -> tuple[Path | None, str]:
    """The peers' venv python, created and filled on first use; (None, reason) on failure."""
    py = PEER_VENV / "bin" / "python"
    check = [str(py), "-c", "import gym_anytrading, gym_trading_env"]
    if py.exists() and not reinstall and subprocess.run(check, capture_output=True).returncode == 0:
        return py, "cached"
    try:
        PEERS_DIR.mkdir(parents=True, exist_ok=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
        res = subprocess.run(
            [str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if res.returncode != 0:
            return (
                None,
                f"pip install {' '.join(PEER_PACKAGES)} failed: {res.stderr.strip()[-300:]}",
            )
        if subprocess.run(check, capture_output=True).returncode != 0:
            return None, "peers installed but do not import"
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"could not create {PEER_VENV}: {e!r}"
    return py, "installed"


def peer_rates(market, steps: int, window: int, reinstall: bool) -> dict[str, object]:
    """One timing of each peer in a subprocess of the peers' venv: name -> [wall, cpu] rate."""
    py, how = ensure_peer_venv(reinstall)
    if py is None:
        return {name: f"skipped: {how}" for name in PEER_PACKAGES}
    data_file = PEERS_DIR / "btc_ohlc.npz"
    np.savez(
        data_file,
        ts=market.timestamps,
        open=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        volume=np.ones(market.n_bars),
    )
    script = PEERS_DIR / "peer_step.py"
    script.write_text(PEER_SCRIPT)
    res = subprocess.run(
        [str(py), str(script), str(data_file), str(steps), str(window)],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if res.returncode != 0:
        return {
            name: f"skipped: peer run failed: {res.stderr.strip()[-300:]}" for name in PEER_PACKAGES
        }
    versions = subprocess.run(
        [
            str(py),
            "-c",
            "import importlib.metadata as m; print(m.version('gym-anytrading'), "
            "m.version('gym-trading-env'))",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["_versions"] = dict(zip(PEER_PACKAGES, versions, strict=False))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=100_000, help="steps for (a), (b), (d)")
    ap.add_argument("--batched-steps", type=int, default=300, help="vector steps for (c)")
    ap.add_argument("--n-envs", type=int, default=1024)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--feature-set", default="core17")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true", help="skip (d)")
    ap.add_argument("--reinstall-peers", action="store_true")
    ap.add_argument(
        "--no-startup",
        action="store_true",
        help="skip timing import + first step in fresh interpreters",
    )
    args = ap.parse_args()

    startup = {} if args.no_startup else startup_times(args.window)
    import envs

    opts = dict(
        fee_bps=10.0,
        slippage_bps=2.0,
        slippage_model="vol",
        funding=True,
        reward="drawdown",
        dd_penalty=0.5,
    )
    env = envs.make_env(
        "btc1h", split="train", feature_set=args.feature_set, window=args.window, **opts
    )
    m = env.market
    print(
        f"data: btc1h train, {m.n_bars} bars, window={m.window} x {m.n_features} features "
        f"({args.feature_set}), obs dim {m.obs_dim}; best of {args.repeats}"
    )
    rng = np.random.default_rng(0)
    acts = rng.integers(0, 3, args.steps).tolist()
    close = m.close.tolist()
    flat = m.features.reshape(-1)
    lo, hi = int(env.tables.starts[0]), int(env.tables.starts[-1])
    venv_ = envs.make_batched_env(
        "btc1h",
        n_envs=args.n_envs,
        split="train",
        feature_set=args.feature_set,
        window=args.window,
        **opts,
    )
    bacts = rng.integers(0, 3, (args.batched_steps, args.n_envs))
    # JIT warm-up: compile (or load from numba's cache) before any timing
    c0 = time.perf_counter()
    env.reset(seed=0)
    env.step(1)
    venv_.reset()
    venv_.step(np.ones(args.n_envs, dtype=np.int64))
    first_call_s = time.perf_counter() - c0
    # Repeats interleave every contender, so a burst of load from other processes hits all
    # of them alike; each keeps its best wall-clock and its best CPU-time rate.
    runs: dict[str, list[Rate]] = {"reference": [], "single": [], "batched": [], "memcpy": []}
    peers: dict[str, object] = {}
    for _ in range(args.repeats):
        runs["reference"].append(reference_rate(close, flat, m.window, m.n_features, lo, hi, acts))
        runs["single"].append(single_rate(env, acts))
        runs["batched"].append(batched_rate(venv_, bacts))
        runs["memcpy"].append(memcpy_rate(args.n_envs, m.obs_dim, args.batched_steps))
        if not args.no_peers:
            got = peer_rates(m, args.steps, args.window, args.reinstall_peers)
            for name, value in got.items():
                if isinstance(value, list):
                    runs.setdefault(name, []).append((value[0], value[1]))
                elif name == "_versions":
                    peers[name] = value
                else:
                    peers.setdefault(name, value)

    best = {k: (max(r[0] for r in v), max(r[1] for r in v)) for k, v in runs.items() if v}
    versions = peers.get("_versions", {})
    print(f"{'':31s}{'wall steps/s':>14s} {'CPU steps/s':>14s}   (x = ratio of CPU rates)")

    def line(label: str, key: str, unit: str = "") -> None:
        wall, cpu = best[key]
        print(f"{label:31s}{wall:14,.0f} {cpu:14,.0f}   {unit}")

    ref = best["reference"][1]
    line("(a) reference loop", "reference", "1.00x reference")
    line("(b) TradingEnv (all costs)", "single", f"{best['single'][1] / ref:.2f}x reference")
    line(
        f"(c) BatchedTradingEnv N={args.n_envs}",
        "batched",
        f"env-steps; {best['batched'][1] / ref:.1f}x reference, "
        f"{best['batched'][1] / best['single'][1]:.1f}x single",
    )
    line(
        f"(m) memcpy floor N={args.n_envs}",
        "memcpy",
        f"env-steps; batched reaches {best['batched'][1] / best['memcpy'][1]:.0%} of it "
        f"({1e6 * args.n_envs / best['memcpy'][1]:.0f} us per copy of the obs, CPU)",
    )
    for name in PEER_PACKAGES:
        if name in best:
            cpu = best[name][1]
            line(
                f"(d) {name} {versions.get(name, '?')}",
                name,
                f"{cpu / ref:.2f}x reference; ours: single {best['single'][1] / cpu:.2f}x, "
                f"batched {best['batched'][1] / cpu:.0f}x",
            )
        else:
            print(f"(d) {name:27s}{peers.get(name, 'skipped: --no-peers')}")
    print(
        "targets: single >= gym-anytrading, single >= 5x Gym-Trading-Env, batched >= 5M env-steps/s"
    )
    print(f"JIT: first single + batched step in this process {first_call_s:.2f} s (excluded above)")
    for label, t in startup.items():
        print(
            f"startup, {label}: import envs {t['import_s']:.2f} s, first step "
            f"{t['first_step_s']:.2f} s (compiled: {t['compiled']})"
        )


if __name__ == "__main__":
    main()
