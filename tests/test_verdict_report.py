"""Saying what a policy did (issue 23): collapses named, the DSR threshold stated, charts scaled to
the methods that matter, positions as bands, each run's own setting."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from agents.experiments.seed_group import read_rl_metrics
from agents.training.validation import split_period
from backtest import verdict
from backtest.aggregate import TrialCount, seed_sharpes, summarize_seeds
from backtest.baselines import PolicySpec
from backtest.collapse import collapse_name
from backtest.verdict import (
    dsr_phrase,
    evaluate_command,
    group_verdict,
    training_verdict,
    versus,
)
from evaluate.charts import drawdown_figure, equity_figure, out_of_range, positions_figure
from evaluate.headtohead import compare
from evaluate.ledger_trials import run_market
from evaluate.plots import _equity, _in_range, plot_equity
from evaluate.report import format_table
from evaluate.report_verdict import method_verdict
from evaluate.seeds import seed_summaries, verdicts
from lab import seeds
from lab.config import ConfigError
from lab.seeds import GroupSpec, summarise, write_summary
from tests.test_evaluate_report import TS, N, _bt

T48 = TrialCount(48, 2.4, "ledger")


def test_collapse_names():
    assert collapse_name(1.0) == "always long: identical to buy-and-hold"
    assert collapse_name(-1.0) == "always short"
    assert collapse_name(0.0) == "always flat"
    assert collapse_name(0.5) == "constant position +0.5"
    assert collapse_name(math.nan) is None and collapse_name(None) is None


def test_seed_sharpes_flags_always_long_and_keeps_its_sharpe():
    values, collapsed = seed_sharpes(
        np.array([1.3, np.nan, 0.7, -0.2]),
        np.array([1.0, 0.0, 1.0, 0.4]),
        np.array([1.0, 0.0, -1.0, np.nan]),  # always long, flat, always short, traded
    )
    assert values.tolist() == [1.3, 0.0, 0.7, -0.2]  # only the flat seed counts as 0
    assert collapsed.tolist() == [True, True, True, False]
    # without the constant positions, only the flat seed is flagged (the old behaviour)
    assert seed_sharpes(np.array([1.3, np.nan]), np.array([1.0, 0.0]))[1].tolist() == [False, True]


def test_dsr_phrase_states_the_threshold():
    assert dsr_phrase(0.94, 12) == "DSR 0.940 < 0.95 after 12 trials: not significant"
    assert dsr_phrase(0.97, 1) == "DSR 0.970 > 0.95 after 1 trial: significant"
    assert dsr_phrase(math.nan, 3) == "DSR n/a after 3 trials: not significant"


def test_versus_and_training_verdict():
    assert versus(1.44, 2.24) == "does not beat buy-and-hold"
    assert versus(2.5, 2.24) == "beats buy-and-hold"
    assert versus(2.24, 2.24) == "ties buy-and-hold"
    assert versus(None, -0.5) == "beats buy-and-hold"  # flat (no Sharpe) counts as 0
    text = training_verdict("val 2023-01-01 to 2024-01-01", "ppo_best", 1.44, 2.24)
    assert text == (
        "val 2023-01-01 to 2024-01-01: ppo_best Sharpe 1.44 vs buy-and-hold 2.24: "
        "does not beat buy-and-hold."
    )
    long = training_verdict("val", "ppo_best", 2.24, 2.24, collapse_name(1.0))
    assert long.endswith("ties buy-and-hold; COLLAPSED: always long: identical to buy-and-hold.")


def _summary(constant: list[float], sharpe: list[float], bench: float = 1.5):
    n = len(sharpe)
    return summarize_seeds(
        "ppo",
        list(range(n)),
        np.array(sharpe),
        np.array([0.0 if c == 0 else 1.0 for c in constant]),
        {"buy_and_hold": np.array([bench])},
        n_boot=100,
        constant=np.array(constant),
    )


def test_method_verdict_one_always_long_seed():
    s = _summary([1.0], [1.5])
    text = method_verdict(s, {"buy_and_hold": 1.5, "momentum": 0.4}, TrialCount(1, 0, "x"), 0.94)
    assert text == (
        "PPO (1 seed): Sharpe 1.50 vs buy-and-hold 1.50: ties buy-and-hold; "
        "P(the seed's Sharpe > buy-and-hold's) = 0.50 (a tie counts half); "
        "COLLAPSED: always long: identical to buy-and-hold; "
        "DSR 0.940 < 0.95 after 1 trial: not significant."
    )


def test_method_verdict_mixed_seeds_and_better_baselines():
    s = _summary([np.nan, 0.0, -1.0], [0.8, np.nan, -0.3])
    baselines = {"buy_and_hold": 1.5, "flat": math.nan, "random": -15.0, "momentum": 0.9}
    text = method_verdict(s, baselines, T48, 0.2, period="test 2024-01-01 to 2024-12-31")
    assert text.startswith("PPO (3 seeds) on test 2024-01-01 to 2024-12-31: IQM Sharpe 0.17 [")
    assert "vs buy-and-hold 1.50: does not beat buy-and-hold" in text
    assert "P(a seed's Sharpe > buy-and-hold's) = 0.00" in text
    assert "baselines with a higher Sharpe: momentum 0.90;" in text  # random, flat: not
    assert "COLLAPSED: 2 of 3 seeds (s1 always flat, s2 always short) (counted as Sharpe 0)" in text
    assert text.endswith("DSR 0.200 < 0.95 after 48 trials: not significant (median over seeds).")
    every = method_verdict(_summary([0.0, 0.0], [np.nan, np.nan]), {}, T48, math.nan)
    assert "COLLAPSED: every seed (2) always flat (counted as Sharpe 0)" in every


@pytest.fixture
def long_and_ruin():
    """Buy-and-hold, a random trader that ruins itself, and a PPO seed that is always long."""
    rng = np.random.default_rng(1)
    market = 0.0003 + 0.01 * rng.standard_normal(N)
    ruin = np.full(N, -0.02)
    return [
        _bt("buy_and_hold", market, np.ones(N), method="buy_and_hold"),
        _bt("flat", np.zeros(N), np.zeros(N), method="flat"),
        _bt("random", ruin, rng.choice([-1.0, 1.0], size=N), method="random"),
        _bt("ppo_s0", market, np.ones(N), method="ppo", seed=0),
    ]


def test_evaluate_verdict_and_table_name_the_always_long_seed(long_and_ruin):
    cmp = compare(long_and_ruin, n_boot=50)
    assert cmp.row("ppo_s0").constant == 1.0 and math.isnan(cmp.row("random").constant)
    summ = seed_summaries(cmp, n_boot=50)["ppo"]
    assert summ.collapsed == [True] and summ.collapses == [collapse_name(1.0)]
    assert summ.sharpes[0] == pytest.approx(cmp.row("buy_and_hold").metrics["sharpe"])
    text = verdicts(cmp, {"ppo": summ}, TrialCount(1, 0.0, "x"))["ppo"]
    assert (
        "ties buy-and-hold" in text and "COLLAPSED: always long: identical to buy-and-hold" in text
    )
    table = format_table(cmp)
    assert "COLLAPSED: ppo_s0 is always long: identical to buy-and-hold" in table
    assert "COLLAPSED: buy_and_hold" not in table  # baselines hold one position by design
    held = next(line for line in table.splitlines() if line.startswith("one position held"))
    assert held.split()[3:] == ["always", "long", "always", "flat", "-", "always", "long"]


def _traces(fig, name):
    return [t for t in fig.data if t.name == name]


def test_charts_hide_the_ruined_baseline_and_draw_buy_and_hold_on_top(long_and_ruin):
    eq = equity_figure(long_and_ruin)
    assert _traces(eq, "random")[0].visible == "legendonly"  # -99 %: off the chart by default
    assert "hidden, far outside the range of the others: random" in eq.layout.title.text
    assert _traces(eq, "ppo_s0")[0].visible is True
    assert eq.data[-1].name == "buy_and_hold"  # drawn last: on top of an identical policy
    assert eq.data[-1].line.dash == "dash" and eq.data[-1].line.width > 2
    dd = drawdown_figure(long_and_ruin)
    assert _traces(dd, "random")[0].visible == "legendonly"
    # a baseline within the range stays visible
    assert out_of_range({"ppo": [np.array([1.0, 1.4])], "momentum": [np.array([0.9, 1.2])]}) == []
    assert out_of_range(
        {"ppo": [np.array([0.9, 1.4])], "random": [np.array([0.01, 1.0])]}, log=True
    )


def test_positions_are_bands_below_price(long_and_ruin):
    close = 100 * np.cumprod(1 + long_and_ruin[0].returns)
    fig = positions_figure(long_and_ruin, (TS, close))
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 1 and list(heat[0].y) == ["ppo_s0", "buy_and_hold"]  # no flat, no random
    assert heat[0].zmin == -1 and heat[0].zmax == 1
    assert np.asarray(heat[0].z).shape == (2, N) and np.all(np.asarray(heat[0].z)[0] == 1.0)
    assert fig.layout.xaxis2.type == "date" and fig.layout.yaxis2.autorange == "reversed"


def _metrics_json(run: Path, sharpe: float | None, collapse: str | None, tim: float) -> None:
    """A finished PPO run's metrics.json as agents.training.pipeline.run_validation writes it."""
    run.mkdir(parents=True)
    policies = {
        "ppo_best": {"sharpe": sharpe, "time_in_market": tim},
        "buy_and_hold": {"sharpe": 2.24},
    }
    body = {"policies": policies, "collapse": {"ppo_best": collapse, "ppo_final": None},
            "period": "val 2023-01-01 to 2024-01-01"}  # fmt: skip
    (run / "metrics.json").write_text(json.dumps(body))


def test_group_summary_names_each_collapse_and_ends_with_a_verdict(tmp_path):
    _metrics_json(tmp_path / "s0", 2.24, "always long: identical to buy-and-hold", 1.0)
    _metrics_json(tmp_path / "s1", None, None, 0.0)  # flat: no Sharpe
    _metrics_json(tmp_path / "s2", 1.1, None, 0.6)
    spec = GroupSpec(algo="ppo", env="btc1h", module="agents.ppo", argv=[], seeds=[0, 1, 2, 3],
                     config={}, group_dir=tmp_path, read_metrics=lambda d: read_rl_metrics(d, "ppo"),
                     command=[])  # fmt: skip
    summary = summarise(spec, {3: "killed"})
    assert summary["per_seed"]["0"]["collapse"] == "always long: identical to buy-and-hold"
    assert [summary["per_seed"][s]["collapsed"] for s in "012"] == [True, True, False]
    assert summary["aggregate"]["mean"] == pytest.approx((2.24 + 0.0 + 1.1) / 3)
    assert group_verdict(summary) == (
        "val 2023-01-01 to 2024-01-01: PPO (3 of 4 seeds) mean Sharpe 1.11 (median 1.10, worst "
        "0.00) vs buy-and-hold 2.24: does not beat buy-and-hold; COLLAPSED: 2 of 3 seeds (s0 "
        "always long: identical to buy-and-hold, s1 always flat); 1 failed to train."
    )
    write_summary(tmp_path, summary)
    md = (tmp_path / "summary.md").read_text()
    assert "| always long: identical to buy-and-hold |" in md and "| always flat |" in md


def test_png_charts_leave_the_ruined_baseline_out(long_and_ruin, tmp_path):
    shown, note = _in_range(long_and_ruin, _equity, log=True)
    assert [b.name for b in shown] == ["flat", "ppo_s0", "buy_and_hold"]  # buy-and-hold last
    assert note == " (not shown, far off: random)"
    assert plot_equity(long_and_ruin, tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_split_period_names_the_last_day_of_the_split():
    assert split_period("btc1h", "val") == "val 2023-01-01 to 2023-12-31"
    assert split_period("btc1h", "nope") == "nope"


def test_run_market_reads_the_runs_own_market_and_refuses_a_damaged_meta(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("algo: ppo\nenv_name: btc1h\n")
    spec = PolicySpec("ppo_s0", "ppo", None, 0, source=str(run / "best_model.zip"))  # type: ignore[arg-type]
    assert run_market(spec) == "btc1h"  # no meta.json: the config's market
    (run / "meta.json").write_text(json.dumps({"market": {"key": "/data/sol_1h.csv.gz"}}))
    assert run_market(spec) == "/data/sol_1h.csv.gz"  # the recorded market wins
    (run / "meta.json").write_text("{not json")
    with pytest.raises(
        ConfigError, match=r"meta.json: not valid JSON .* the run folder is damaged"
    ):
        run_market(spec)
    assert run_market(PolicySpec("flat", "flat", None)) is None  # type: ignore[arg-type]


def test_console_table_fits_100_columns_in_blocks(long_and_ruin):
    rng = np.random.default_rng(2)
    extra = []
    for k in range(6):
        pos = rng.choice([-1.0, 0.0, 1.0], size=N)
        extra.append(
            _bt(f"ppo_long_name_s{k}", pos * long_and_ruin[0].returns, pos, method="ppo", seed=k)
        )
    cmp = compare([*long_and_ruin, *extra], n_boot=20)
    lines = format_table(cmp).splitlines()
    assert max(len(line) for line in lines) <= 100, max(lines, key=len)
    headers = [line for line in lines if line.startswith(" ") and line.strip()]
    assert len(headers) >= 2  # several blocks, each with its policy names
    names = " ".join(headers).split()
    assert names.count("ppo_s0") == 1 and "ppo_long_name_s5" in names and "buy_and_hold" in names
    assert sum(line.startswith("Sharpe (ann.)") for line in lines) == len(headers)


def test_next_command_is_quoted_for_the_shell(tmp_path, monkeypatch):
    monkeypatch.delenv("RLTRADE_SHOWN_RUN_DIR", raising=False)
    cmd = evaluate_command("/data/my candles.csv?bar=4h", tmp_path / "run 1")
    assert cmd.endswith(
        f"-m evaluate --env '/data/my candles.csv?bar=4h' --split test '{tmp_path}/run 1'"
    )
    assert seeds.SHOWN_RUN_DIR_ENV == verdict.SHOWN_RUN_DIR_ENV == "RLTRADE_SHOWN_RUN_DIR"
    monkeypatch.setenv("RLTRADE_SHOWN_RUN_DIR", "/runs/group/s0")  # a seed trained in a worker
    assert evaluate_command("btc1h", tmp_path).endswith("--env btc1h --split test /runs/group/s0")
