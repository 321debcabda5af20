"""A fault-and-abuse suite across every CLI (issue 12 item 7): hostile inputs, one per test.

Each case runs the module's real ``__main__`` block in-process (``runpy``, so the real
``lab.cli.run_cli`` wrapper and parser) and asserts: exit code 2, the last stderr line names the
problem (a fragment of the expected message), no traceback, and nothing written (the tmp tree,
the repository's ``data/`` and ``runs/`` are unchanged). No case trains: every input is refused
before training starts. Ctrl-C is tested on a real subprocess (exit 130, no half-written file).
The cases are in ``tests/abuse_cases.py``; the whole last line must equal the message
``docs/abuse_cases.md`` records for the case (temp folder as ``<tmp>``, the checkout as
``<repo>``), so a message that drifts from the published table fails here.
"""

from __future__ import annotations

import importlib.util
import os
import runpy
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from abuse_cases import CASES, fixtures  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("abuse_table", REPO / "bench" / "abuse_table.py")
abuse_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(abuse_table)
PUBLISHED = abuse_table.read_messages((REPO / "docs" / "abuse_cases.md").read_text("utf-8"))


def _tree(root: Path) -> dict[str, float]:
    """Every path under ``root`` with its mtime (a rewrite changes it)."""
    return {str(p): p.lstat().st_mtime_ns for p in root.rglob("*")} if root.exists() else {}


def _run(module: str, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", [module, *argv])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            runpy.run_module(module, run_name="__main__", alter_sys=False)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1
    return 0


@pytest.mark.parametrize(("cid", "module", "argv", "fragment"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(
    cid: str,
    module: str,
    argv: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RLTRADE_RUNS_ROOT", str(tmp_path / "ledger_root"))
    fx = fixtures(tmp_path)
    args = [a.format(**fx) for a in argv]
    before = {r: _tree(r) for r in (tmp_path, REPO / "data", REPO / "runs")}
    code = _run(module, args, monkeypatch)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    assert lines and "error:" in lines[-1] and fragment in lines[-1], err[-2000:]
    assert not [ln for ln in lines if "error:" in ln][1:], err  # one error line
    published = PUBLISHED.get((module, abuse_table.case_input(cid, argv)))
    assert abuse_table.normalise(lines[-1], str(tmp_path)) == published, (
        "the message differs from docs/abuse_cases.md (python bench/abuse_table.py)"
    )
    for root, tree in before.items():
        assert _tree(root) == tree, f"{root} changed"


CTRL_C = {
    "supervised.train": ["--env", "btc1h", "--epochs", "50", "--run-dir"],
    "evaluate": ["--env", "btc1h", "--split", "val", "--n-boot", "50", "--out"],
    "supervised.trees": ["--env", "btc1h", "--max-train-samples", "20000", "--run-dir"],
}


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action. A suite started in the
    background (``pytest &``, ``nohup``, ``trap '' INT``) inherits SIGINT *ignored*, and a
    program that starts with SIGINT ignored keeps it ignored (the POSIX convention for
    background jobs, which Python and the CLIs respect: they never re-enable it), so without
    this the Ctrl-C below would not reach the command under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("module", sorted(CTRL_C))
def test_ctrl_c_exits_130_and_leaves_no_half_written_output(module: str, tmp_path: Path) -> None:
    """SIGINT once the output folder has its provenance (before any result): exit 130, one
    line, and the unfinished folder removed (a retry with the same folder works)."""
    run = tmp_path / "run"
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp_path / "ledger_root")}
    cmd = [sys.executable, "-m", module, *CTRL_C[module], str(run)]
    p = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, preexec_fn=_default_sigint)  # fmt: skip
    deadline = time.monotonic() + 300
    while not (run / "meta.json").exists() and p.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: interrupted (Ctrl-C)")
    assert not run.exists(), sorted(str(f) for f in run.rglob("*"))
