"""The trial ledger cannot be poisoned (issue 24 item 3): a damaged line is an error naming the
file, the line and the fix; an append is a whole line or nothing, even on a full disk; a torn
last line is reported; each trial's val returns are stored beside it, checked by sha256."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from evaluate import cli
from lab.ledger import (
    append_record,
    ledger_path,
    ledger_trial_returns,
    make_record,
    read_records,
    trial_summary,
)
from lab.ledger_check import LedgerError

REPO = Path(__file__).resolve().parent.parent


def _rec(cfg: int, sharpe: float | None = 1.0, seed: int = 0) -> dict:
    return make_record(market="btc1h", source="run", algo="ppo", config={"c": cfg}, seed=seed,
                       run_dir=None, val_sharpe=sharpe, periods_per_year=8760)  # fmt: skip


def _ledger(tmp_path: Path, *extra_lines: str) -> Path:
    append_record(_rec(1, 0.5), tmp_path)
    path = ledger_path("btc1h", tmp_path)
    with open(path, "a") as fh:
        fh.writelines(line + "\n" for line in extra_lines)
    return path


GOOD = json.dumps(_rec(2, 0.7))


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        (GOOD.replace('"val_sharpe": 0.7', '"val_sharpe": NaN'), "val_sharpe nan is not a finite"),
        ("[1, 2, 3]", "a JSON list, not a record object"),
        (GOOD.replace('"val_sharpe": 0.7', '"val_sharpe": 1e6'), "val_sharpe 1000000.0 is absurd"),
        (GOOD.replace('"config_hash"', '"config_hush"'), "field 'config_hash' is missing"),
        (GOOD.replace('"val_sharpe": 0.7', '"val_sharpe": "high"'), "val_sharpe 'high' is not"),
        (GOOD.replace('"source": "run"', '"source": "guess"'), "source 'guess' is not one of"),
        (GOOD.replace('"periods_per_year": 8760.0', '"periods_per_year": -1'), "periods_per_year"),
    ],
)
def test_a_damaged_line_is_an_error_naming_file_line_and_fix(
    tmp_path: Path, line: str, fragment: str
) -> None:
    path = _ledger(tmp_path, GOOD, line)
    with pytest.raises(LedgerError) as err:
        trial_summary("btc1h", tmp_path)  # never a silent drop of the deflation
    msg = str(err.value)
    assert f"{path} line 3" in msg and fragment in msg and "restore the line" in msg


def test_a_folder_as_ledger_is_an_error(tmp_path: Path) -> None:
    ledger_path("btc1h", tmp_path).mkdir(parents=True)
    with pytest.raises(LedgerError, match="ledger path is a folder"):
        trial_summary("btc1h", tmp_path)
    with pytest.raises(LedgerError, match="ledger path is a folder"):
        append_record(_rec(1), tmp_path)


def test_a_torn_last_line_is_reported_with_the_fix_and_blocks_appends(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    whole = path.stat().st_size
    with open(path, "a") as fh:
        fh.write(GOOD[:40])  # a crash mid-append, no newline
    with pytest.raises(LedgerError, match=rf"line 2: the last line is torn.*truncate -s {whole} "):
        list(read_records("btc1h", tmp_path))
    with pytest.raises(LedgerError, match=rf"truncate -s {whole} "):
        append_record(_rec(3), tmp_path)  # appending would glue a record onto the torn line
    assert path.stat().st_size == whole + 40  # nothing written
    subprocess.run(["truncate", "-s", str(whole), str(path)], check=True)  # the stated fix
    append_record(_rec(3), tmp_path)
    assert trial_summary("btc1h", tmp_path).n_trials == 2


def test_full_disk_append_is_whole_line_or_nothing(tmp_path: Path) -> None:
    path = _ledger(tmp_path)
    before = path.read_bytes()
    code = textwrap.dedent(f"""
        import resource, sys
        sys.path.insert(0, {str(REPO)!r})
        from lab.ledger import append_record, make_record
        rec = make_record(market="btc1h", source="run", algo="ppo", config={{"c": 9}}, seed=0,
                          run_dir=None, val_sharpe=1.0, periods_per_year=8760,
                          extra={{"pad": "x" * 4000}})
        resource.setrlimit(resource.RLIMIT_FSIZE, ({len(before) + 100}, {len(before) + 100}))
        try:
            append_record(rec, {str(tmp_path)!r})
        except OSError as err:
            print("ERR", err)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ERR [Errno 27] short append" in out.stdout  # EFBIG: lab.cli names the limit
    assert "ledger line not written (file left as it was)" in out.stdout
    assert path.read_bytes() == before  # the partial line was cut back
    assert trial_summary("btc1h", tmp_path).n_trials == 1


def test_val_returns_stored_beside_the_ledger_and_checked(tmp_path: Path) -> None:
    ts = np.arange(5, dtype=np.int64) * 3_600_000_000_000
    for cfg, seed, r in ((1, 0, [0.01, -0.02, 0.0, 0.03, 0.01]), (1, 1, [0.03, 0.0, 0.0, 0.01, 0.01]),
                         (2, 0, [0.0, 0.0, 0.01, 0.0, -0.01])):  # fmt: skip
        append_record(_rec(cfg, seed=seed), tmp_path, val_returns=np.array(r), val_timestamps=ts)
    recs = list(read_records("btc1h", tmp_path))
    ptr = recs[0]["returns"]
    assert ptr["file"].startswith("ledger_returns/") and ptr["n_bars"] == 5
    (block,) = ledger_trial_returns("btc1h", tmp_path)
    assert block.matrix.shape == (5, 2) and block.n_seeds == [2, 1]
    assert np.allclose(block.matrix[:, 0], [0.02, -0.01, 0.0, 0.02, 0.01])  # mean over seeds
    f = ledger_path("btc1h", tmp_path).parent / ptr["file"]
    f.write_bytes(f.read_bytes()[:-8] + np.float64(9.0).tobytes())  # tampered
    with pytest.raises(LedgerError, match="sha256 differs from the one .* line 1 recorded"):
        ledger_trial_returns("btc1h", tmp_path)


def test_evaluate_refuses_a_poisoned_ledger_before_any_backtest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "runs"
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(root))
    path = _ledger(root, GOOD.replace('"val_sharpe": 0.7', '"val_sharpe": NaN'))
    out = tmp_path / "eval"
    with pytest.raises(SystemExit, match=rf"{path} line 2: val_sharpe nan is not a finite"):
        cli.main(["--env", "btc1h", "--split", "val", "--no-plots", "--out", str(out)])
    assert not out.exists() and path.read_text().count("\n") == 2
