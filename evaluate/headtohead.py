"""Head-to-head analysis of backtests: metrics, PSR/DSR, bootstrap CIs, paired tests, seed means.

Every row is one backtest (a policy, or one seed of a method). Significance is computed on the
bars a row shares with the benchmark (normally all of them: every policy steps the same env over
the same split). Rows that share the benchmark's exact bars are bootstrapped on the **same**
resampled indices, so every interval and paired test in a report comes from one resampling.

Deflated Sharpe: the trials are the *candidates* that were selected among, i.e. the non-baseline
rows (baselines are fixed rules, nobody tuned them, and their spread, e.g. a random trader's
cost-driven -15 Sharpe, would inflate the variance). ``n_trials`` defaults to the number of
candidate rows (at least 1) and the trials' variance to the variance of their per-period Sharpes
(0 with fewer than two). With one candidate and no search information, DSR = PSR: pass the size
and Sharpe variance of the real hyperparameter search (``--n-trials``, ``--trials-sharpe-var``)
to deflate honestly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from backtest.aggregate import seed_sharpes
from backtest.collapse import constant_position
from backtest.record import Backtest, aligned_returns
from backtest.stats import (
    PairedSharpeTest,
    SeedAggregate,
    SharpeCI,
    aggregate_seeds,
    bootstrap_sharpes,
    ci_from_boot,
    default_block_length,
    deflated_sharpe_ratio,
    paired_from_boot,
    paired_sharpe_test,
    per_period_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_bootstrap_ci,
)


@dataclass
class Row:
    """One backtest's metrics and significance."""

    name: str
    method: str
    seed: int | None
    metrics: dict[str, float]
    psr: float  # P(true Sharpe > 0)
    dsr: float  # P(true Sharpe > expected max of n_trials zero-skill trials)
    ci: SharpeCI
    vs_benchmark: PairedSharpeTest | None  # None for the benchmark itself
    ruined: float = 0.0  # 1.0 if the account hit the env's ruin floor (then flat to the end)
    constant: float = float("nan")  # the one position held throughout (a collapse), NaN: traded

    def flat(self) -> dict[str, float]:
        """Metrics plus significance columns, for JSON/CSV."""
        out: dict[str, Any] = {
            "method": self.method,
            "seed": self.seed,
            **self.metrics,
            "ruined": self.ruined,
            "constant_position": self.constant,
        }
        out.update(
            psr=self.psr,
            dsr=self.dsr,
            sharpe_ci_low=self.ci.low,
            sharpe_ci_high=self.ci.high,
            sharpe_boot_se=self.ci.std_error,
        )
        t = self.vs_benchmark
        out.update(
            sharpe_diff_vs_benchmark=np.nan if t is None else t.diff,
            sharpe_diff_ci_low=np.nan if t is None else t.low,
            sharpe_diff_ci_high=np.nan if t is None else t.high,
            p_value_vs_benchmark=np.nan if t is None else t.p_value,
            p_value_memmel_vs_benchmark=np.nan if t is None else t.p_value_memmel,
        )
        return out


@dataclass
class Comparison:
    """All rows, seed aggregates per method with more than one seed, and the settings used."""

    rows: list[Row]
    aggregates: dict[str, dict[str, SeedAggregate]]
    benchmark: str
    settings: dict[str, Any] = field(default_factory=dict)

    def row(self, name: str) -> Row:
        """The row of policy ``name``."""
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no row {name!r}; rows: {[r.name for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values."""
        return {
            "benchmark": self.benchmark,
            "settings": self.settings,
            "policies": {r.name: r.flat() for r in self.rows},
            "aggregates": {
                m: {k: asdict(v) for k, v in aggs.items()} for m, aggs in self.aggregates.items()
            },
        }


def _seed_values(members: list[Row], key: str) -> np.ndarray:
    """``key`` over a method's seeds. A seed that stayed flat has an undefined Sharpe: it counts
    as Sharpe 0 (``evaluate.aggregate.seed_sharpes``), never dropped from the seed mean."""
    values = np.array([m.flat()[key] for m in members], dtype=np.float64)
    if key == "sharpe":
        exposure = np.array([m.metrics.get("exposure", np.nan) for m in members])
        constant = np.array([m.constant for m in members], dtype=np.float64)
        values, _ = seed_sharpes(values, exposure, constant)
    return values


@dataclass(frozen=True)
class _Stats:
    """What every row's statistics share: the benchmark, the bootstrap and the trial count."""

    bench: Backtest
    benchmark: str
    boot: dict[str, np.ndarray]  # the shared resampling's Sharpes, per backtest name
    ppy: float
    n_boot: int
    seed: int
    level: float
    block_length: float
    trials: int
    trials_var: float


def _trial_counts(
    candidates: list[Backtest], n_trials: int | None, trials_sharpe_var: float | None
) -> tuple[int, float]:
    """The deflated Sharpe's trial count and per-period Sharpe variance (given, or measured)."""
    sharpes = np.array(
        [per_period_sharpe(bt.returns) if len(bt) > 1 else np.nan for bt in candidates]
    )
    finite = sharpes[np.isfinite(sharpes)]
    trials = int(n_trials) if n_trials is not None else max(1, len(candidates))
    if trials_sharpe_var is not None:
        return trials, float(trials_sharpe_var)
    return trials, float(np.var(finite, ddof=1)) if finite.size > 1 else 0.0


def _shared_boot(
    backtests: list[Backtest], bench: Backtest, n_boot: int, seed: int, bl: float
) -> dict[str, np.ndarray]:
    """One shared resampling for every row on exactly the benchmark's bars."""
    same = [bt for bt in backtests if np.array_equal(bt.timestamps, bench.timestamps)]
    if len(bench) <= 1:
        return {}
    mat = bootstrap_sharpes([bt.returns for bt in same], n_boot=n_boot, seed=seed, block_length=bl)
    return {bt.name: mat[k] for k, bt in enumerate(same)}


def _vs_benchmark(bt: Backtest, st: _Stats) -> Any:
    """The paired Sharpe test against the benchmark (None for the benchmark itself)."""
    if bt.name == st.benchmark:
        return None
    bl, r = st.block_length, bt.returns
    if bt.name in st.boot and st.benchmark in st.boot:
        return paired_from_boot(
            r,
            st.bench.returns,
            st.boot[bt.name],
            st.boot[st.benchmark],
            st.ppy,
            level=st.level,
            block_length=bl,
        )
    ra, rb = aligned_returns(bt, st.bench)
    return paired_sharpe_test(
        ra, rb, st.ppy, n_boot=st.n_boot, level=st.level, block_length=bl, seed=st.seed
    )


def _row(bt: Backtest, st: _Stats) -> Row:
    """One policy's metrics, Sharpe CI, PSR/DSR and test against the benchmark."""
    r, bl = bt.returns, st.block_length
    if bt.name in st.boot:
        ci = ci_from_boot(
            r, st.boot[bt.name], st.ppy, level=st.level, block_length=bl, method="stationary"
        )
    else:
        ci = sharpe_bootstrap_ci(
            r, st.ppy, n_boot=st.n_boot, level=st.level, block_length=bl, seed=st.seed
        )
    ok = len(bt) > 1
    return Row(
        name=bt.name,
        method=str(bt.meta.get("method", bt.name)),
        seed=bt.meta.get("seed"),
        metrics=bt.summary(benchmark=st.bench),
        psr=probabilistic_sharpe_ratio(r) if ok else float("nan"),
        dsr=deflated_sharpe_ratio(r, n_trials=st.trials, trials_sharpe_var=st.trials_var)
        if ok
        else float("nan"),
        ci=ci,
        vs_benchmark=_vs_benchmark(bt, st),
        ruined=float(bt.meta.get("ruined_at") is not None),
        constant=constant_position(bt.positions),
    )


def _aggregates(rows: list[Row], level: float) -> dict[str, dict[str, SeedAggregate]]:
    """Per method with two seeds or more: every metric aggregated over its seeds."""
    aggregates: dict[str, dict[str, SeedAggregate]] = {}
    for method in dict.fromkeys(r.method for r in rows):
        members = [r for r in rows if r.method == method]
        if len(members) < 2:
            continue
        keys = list(members[0].flat())
        aggregates[method] = {
            k: aggregate_seeds(_seed_values(members, k), level)
            for k in keys
            if k not in ("method", "seed", "constant_position")
        }
    return aggregates


def compare(
    backtests: list[Backtest],
    *,
    benchmark: str = "buy_and_hold",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    block_length: float | None = None,
    n_trials: int | None = None,
    trials_sharpe_var: float | None = None,
    baselines: tuple[str, ...] = ("buy_and_hold", "flat", "random", "momentum"),
) -> Comparison:
    """Analyse ``backtests`` (names unique; ``meta['method']``/``meta['seed']`` group seeds).

    ``trials_sharpe_var`` is per period (an annualised variance divided by periods_per_year).
    """
    names = [bt.name for bt in backtests]
    if len(set(names)) != len(names):
        raise ValueError(f"backtest names must be unique, got {names}")
    by_name = {bt.name: bt for bt in backtests}
    if benchmark not in by_name:
        raise ValueError(f"benchmark {benchmark!r} is not among the backtests {names}")
    bench = by_name[benchmark]
    bl = float(default_block_length(len(bench)) if block_length is None else block_length)
    candidates = [bt for bt in backtests if str(bt.meta.get("method", bt.name)) not in baselines]
    trials, trials_var = _trial_counts(candidates, n_trials, trials_sharpe_var)
    boot = _shared_boot(backtests, bench, n_boot, seed, bl)
    st = _Stats(
        bench, benchmark, boot, bench.periods_per_year, n_boot, seed, level, bl, trials, trials_var
    )
    rows = [_row(bt, st) for bt in backtests]
    settings = {
        "n_boot": n_boot,
        "bootstrap_seed": seed,
        "level": level,
        "block_length_bars": bl,
        "bootstrap": "stationary (Politis-Romano)",
        "n_trials": trials,
        "trials_sharpe_var_per_period": trials_var,
        "periods_per_year": st.ppy,
    }
    return Comparison(rows, _aggregates(rows, level), benchmark, settings)
