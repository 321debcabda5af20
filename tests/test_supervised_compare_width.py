"""``python -m supervised.compare`` prints tables a terminal shows: every line within 100 columns."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervised.compare import main


@pytest.mark.slow
def test_compare_prints_two_tables_within_100_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "cmp"
    main(["--env", "btc1h", "--epochs", "1", "--schemes", "fwd_sharpe_k0.2_6h",
          "--losses", "logit_adjusted", "none", "--max-train-samples", "300",
          "--max-val-bars", "200", "--threads", "1", "--run-dir", str(run)])  # fmt: skip
    out = capsys.readouterr().out
    lines = out.splitlines()
    text = [line for line in lines if str(tmp_path) not in line]  # a path is as long as it is
    assert max(len(line) for line in text) <= 100, max(text, key=len)
    assert "Classification on val:" in out and "Trading on val" in out
    # both rows appear in both tables, named by labels and loss
    rows = [line for line in lines if line.startswith("fwd_sharpe_k0.2_6h  ")]
    assert len(rows) == 4 and sum("logit_adjusted" in r for r in rows) == 2
    md = (run / "compare.md").read_text()
    assert "## Classification" in md and "## Trading" in md
