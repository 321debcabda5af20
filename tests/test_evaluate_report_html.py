"""evaluate.report_html in a real headless browser: verdicts visible, plotly charts rendered."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import numpy as np
import pytest

from backtest.aggregate import TrialCount
from evaluate.charts import monthly_returns
from evaluate.headtohead import compare
from evaluate.report_html import write_report_html
from evaluate.seeds import seed_summaries, verdicts
from tests.test_evaluate_report import TS, N, _bt

# Debian's package; CI installs it with: apt-get install -y chromium
CHROMIUM = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(b)), None)  # fmt: skip


@pytest.fixture
def report(tmp_path):
    rng = np.random.default_rng(0)
    market = 0.0002 + 0.01 * rng.standard_normal(N)
    bts = [_bt("buy_and_hold", market, np.ones(N)), _bt("flat", np.zeros(N), np.zeros(N))]
    for s in range(2):
        pos = rng.choice([-1.0, 0.0, 1.0], size=N)
        bts.append(_bt(f"ppo_s{s}", pos * market, pos, method="ppo", seed=s))
    bts.append(_bt("ppo_s2", np.zeros(N), np.zeros(N), method="ppo", seed=2))  # collapsed
    cmp = compare(bts, n_boot=100)
    summaries = seed_summaries(cmp, n_boot=100)
    trials = TrialCount(48, 2.4, "ledger runs/btc1h/trials.jsonl")
    text = verdicts(cmp, summaries, trials)
    ctx = {
        "env": "synthetic",
        "split": "test",
        "from": str(TS[0].astype("datetime64[ns]")),
        "to": str(TS[-1].astype("datetime64[ns]")),
        "bars": N,
        "costs": {"fee_bps": 10.0, "slippage_bps": 2.0, "funding": True},
        "command": "python -m evaluate ppo=group",
    }
    close = 100 * np.cumprod(1 + market)
    path = write_report_html(
        tmp_path / "report.html", cmp, bts, summaries, text, trials, ctx, price=(TS, close)
    )
    return path, text["ppo"]


def test_report_page_content(report):
    path, verdict = report
    page = path.read_text()
    assert verdict.startswith("PPO (3 seeds): IQM Sharpe")
    assert "COLLAPSED: 1 of 3 seeds (s2 always flat)" in verdict and "after 48 trials" in verdict
    # the verdict comes before the charts, the charts before the full table
    assert (
        page.index(html.escape(verdict))
        < page.index('id="plot-equity"')
        < page.index("All metrics")
    )
    assert "2024-01-01 01:00 UTC" in page  # dates, not ns integers or numpy reprs
    assert "<td>fee (bps of notional)</td><td>10.0</td>" in page  # costs as a table
    assert "{'fee_bps'" not in page
    assert "48, from: ledger runs/btc1h/trials.jsonl" in page
    # no network: plotly.js inlined, no script or stylesheet fetched
    assert not re.search(r"<script[^>]*\bsrc=", page) and "<link" not in page
    assert "Plotly.newPlot" in page


def test_monthly_returns_compound_within_month():
    r = np.zeros(N)
    r[0], r[1] = 0.1, 0.1  # January 2024 (TS starts 2024-01-01 01:00)
    bt = _bt("x", r, np.ones(N))
    months, rets = monthly_returns(bt)
    assert str(months[0]) == "2024-01" and rets[0] == pytest.approx(0.21)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(report, tmp_path):
    path, verdict = report
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000"]  # fmt: skip
    dom = subprocess.run(
        [*cmd, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=180
    ).stdout
    # plotly drew every chart: each figure div gets a plot-container with SVG layers
    for k in ("equity", "drawdown", "positions", "monthly"):
        block = dom[dom.index(f'id="plot-{k}"') :][:4000]
        assert "plot-container" in block and "main-svg" in block, k
    assert len(re.findall(r'class="main-svg"', dom)) >= 8
    assert "PPO (3 seeds): IQM Sharpe" in dom
    shot = tmp_path / "report.png"
    subprocess.run(
        [*cmd, "--window-size=1300,1600", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=180,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
