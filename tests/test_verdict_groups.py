"""A supervised seed group reports the rule its models trade with and ends with a verdict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from supervised.train import main


@pytest.mark.slow
def test_supervised_group_reports_the_rule_and_ends_with_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "runs"))
    group = tmp_path / "group"
    main(["--env", "btc1h", "--seeds", "0", "1", "--workers", "1", "--epochs", "1",
          "--max-train-samples", "300", "--max-val-bars", "200", "--threads", "1",
          "--run-dir", str(group)])  # fmt: skip
    out = capsys.readouterr().out.rstrip().splitlines()
    summary = json.loads((group / "summary.json").read_text())
    rule = []
    for s in (0, 1):
        m = json.loads((group / f"s{s}" / "metrics.json").read_text())
        row = summary["per_seed"][str(s)]
        # the val Sharpe of the confidence rule the model trades with, not the corrected argmax
        assert row["val_policy"] == "rule" and row["val_sharpe"] == m["val_env"]["rule"]["sharpe"]
        assert row["buy_and_hold_sharpe"] == m["val_verdict"]["buy_and_hold_sharpe"]
        rule.append(row["val_sharpe"])
        # each seed's next command names its folder in the group, not the worker's temp folder
        assert m["val_verdict"]["next_command"].endswith(f"--split test {group / f's{s}'}")
    mean, bench = sum(rule) / 2, summary["per_seed"]["0"]["buy_and_hold_sharpe"]
    assert out[-2].startswith(
        f"verdict: {summary['per_seed']['0']['period']}: SUPERVISED (2 of 2 seeds) mean Sharpe "
        f"{mean:.2f} (median {mean:.2f}, worst {min(rule):.2f}) vs buy-and-hold {bench:.2f}: "
    )
    assert out[-1].endswith(f"-m evaluate --env btc1h --split test {group}")
