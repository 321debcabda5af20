"""PBO and SPA over a market's whole ledger (backtest.overfit_ledger, lab.ledger_returns
.aligned_block): trials on slightly different bars are lined up on the bars they share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backtest.baseline_select import choose_on_split, record_choice
from backtest.overfit import pbo
from backtest.overfit_ledger import ledger_overfitting
from backtest.runner import run_policy
from backtest.spa import spa_test
from lab.ledger import append_record, ledger_trial_returns, make_record
from lab.ledger_returns import aligned_block


def test_aligned_block_joins_blocks_on_their_shared_bars(tmp_path: Path) -> None:
    ts = np.arange(100, dtype=np.int64)
    rng = np.random.default_rng(0)
    for cfg, bars in ((1, ts), (2, ts), (3, ts[5:]), (4, ts[50:])):  # 4 overlaps too little
        rec = make_record(market="m", source="run", algo="x", config={"c": cfg}, seed=0,
                          run_dir=None, val_sharpe=0.1, periods_per_year=8760)  # fmt: skip
        append_record(
            rec, tmp_path, val_returns=rng.normal(0, 0.01, bars.size), val_timestamps=bars
        )
    blocks = ledger_trial_returns("m", tmp_path)
    assert [b.matrix.shape for b in blocks] == [(100, 2), (95, 1), (50, 1)]
    joined = aligned_block(blocks)
    assert joined is not None and joined.matrix.shape == (95, 3)
    assert np.array_equal(joined.timestamps, ts[5:])
    assert np.array_equal(joined.matrix[:, :2], blocks[0].matrix[5:])
    assert np.array_equal(joined.matrix[:, 2], blocks[1].matrix[:, 0])


def test_ledger_overfitting_of_the_baseline_trials_and_a_run(tmp_path: Path) -> None:
    for name in ("tsmom_long_flat", "vol_target"):
        record_choice(choose_on_split(name, "btc1h"), "btc1h", {}, runs_root=tmp_path)
    bh = run_policy("buy_and_hold", "btc1h", "val")
    rec = make_record(market="btc1h", source="run", algo="ppo", config={"c": 1}, seed=0,
                      run_dir=None, val_sharpe=0.5, periods_per_year=8760)  # fmt: skip
    noise = np.random.default_rng(1).normal(0, 0.005, len(bh) - 16)
    append_record(rec, tmp_path, val_returns=noise, val_timestamps=bh.timestamps[16:])
    out = ledger_overfitting("btc1h", runs_root=tmp_path, reps=100, seed=3)
    assert out.n_trials == 4 + 3 + 1 and out.pbo is not None
    block = aligned_block(ledger_trial_returns("btc1h", tmp_path))
    assert block is not None and block.matrix.shape == (len(bh) - 16, 8)
    assert out.pbo.pbo == pbo(block.matrix, n_blocks=16).pbo
    direct = spa_test(bh.returns[16:], block.matrix, names=block.labels, reps=100, seed=3)
    assert out.spa["buy_and_hold"].pvalue == direct.pvalue
    assert set(out.spa) == {"buy_and_hold", "tsmom_long_flat"}
    text = "\n".join(out.sentences())
    assert "probability the selected configuration is overfit (PBO, CSCV over 8" in text
    assert "Hansen's SPA p = " in text and "buy_and_hold" in text
    assert out.to_dict()["pbo"] == pytest.approx(out.pbo.pbo)


def test_ledger_without_returns_says_why(tmp_path: Path) -> None:
    out = ledger_overfitting("btc1h", runs_root=tmp_path)
    assert out.pbo is None and "fewer than 2 trials" in out.sentences()[0]
