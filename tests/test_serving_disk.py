"""A full disk (a file-size limit, ``ulimit -f``) leaves the registry and the retrain history as
they were: no half version, LATEST untouched, no torn history line (issue 24)."""

from __future__ import annotations

import errno
import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

from test_registry import _tree_run

from agents.serving.model_registry import promote

REPO = Path(__file__).resolve().parent.parent


def _limited(argv: list[str], limit_bytes: int) -> subprocess.CompletedProcess[str]:
    """``python argv`` with files capped at ``limit_bytes`` (SIGXFSZ ignored: writes fail)."""

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, *argv], preexec_fn=cap, capture_output=True,
                          text=True, cwd=REPO, timeout=300)  # fmt: skip


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_promotion_that_hits_the_limit_leaves_the_registry_as_it_was(tmp_path):
    root = tmp_path / "models"
    promote(_tree_run(tmp_path / "r1"), "btc", root)
    before = _snapshot(root)
    run = _tree_run(tmp_path / "r2")
    (run / "model.skops").write_bytes(b"x" * 60_000)  # larger than the limit below
    done = _limited(["-m", "agents.registry", "--root", str(root), "promote", str(run),
                     "--name", "btc"], 20_000)  # fmt: skip
    assert done.returncode != 0, done.stdout
    assert _snapshot(root) == before  # v1 and LATEST intact, no v2, no temp folder
    assert sorted(p.name for p in (root / "btc").iterdir()) == ["LATEST.json", "v1"]


def test_a_retrain_history_line_is_whole_or_absent(tmp_path):
    history = tmp_path / "retrain.jsonl"
    history.write_text(json.dumps({"attempt": 1, "pad": "p" * 880}) + "\n")
    before = history.read_bytes()
    code = (
        "import sys; from pathlib import Path; from agents.serving.retraining import _append_history\n"
        "try:\n"
        f"    _append_history(Path({str(tmp_path)!r}), {{'attempt': 2, 'pad': 'q' * 300}})\n"
        "except OSError as err:\n"
        "    print(err.errno); sys.exit(3)\n"
    )
    done = _limited(["-c", code], len(before) + 100)  # room for a third of the line
    assert (done.returncode, done.stdout.strip()) == (3, str(errno.ENOSPC)), done.stderr
    assert history.read_bytes() == before
    done = _limited(["-c", code], len(before))  # no room at all: EFBIG, nothing written
    assert (done.returncode, done.stdout.strip()) == (3, str(errno.EFBIG)), done.stderr
    assert history.read_bytes() == before
