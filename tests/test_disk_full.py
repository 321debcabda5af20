"""A full disk is one line, exit 2, and loses nothing saved before (issue 24 item 4).

Every command runs as a real subprocess under a small file-size limit (``RLIMIT_FSIZE``, what
``ulimit -f`` sets): the first write past it fails with ``EFBIG``, as a full disk fails with
``ENOSPC``. Each must end with one ``error:`` line that names what was not written, where, and
the fix, exit 2, no traceback, and leave every file that existed before byte for byte intact.
The limits are chosen so that each command gets past its start (config, provenance) and is
refused at its first real output (a model, a checkpoint, a report).
"""

from __future__ import annotations

import errno
import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from lab.atomic import atomic_save, atomic_write_bytes
from lab.cli import environment_error_line, run_cli

REPO = Path(__file__).resolve().parent.parent
KIB = 1024


def _limited(limit_bytes: int):
    def preexec() -> None:
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, hard))

    return preexec


def _run(args: list[str], tmp: Path, limit_bytes: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "RLTRADE_RUNS_ROOT": str(tmp / "ledger_root"), "MPLBACKEND": "Agg"}
    env.pop("RLTRADE_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=600, preexec_fn=None if limit_bytes is None else _limited(limit_bytes),
    )  # fmt: skip


def _hashes(*roots: Path) -> dict[str, str]:
    return {
        str(f): hashlib.sha256(f.read_bytes()).hexdigest()
        for root in roots
        for f in sorted(root.rglob("*"))
        if f.is_file()
    }


def _assert_one_line_refusal(p: subprocess.CompletedProcess, where: str) -> str:
    err = p.stderr
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert p.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert lines and lines[-1].startswith("error: "), err[-3000:]
    assert len([ln for ln in lines if "error:" in ln]) == 1, err[-3000:]
    last = lines[-1]
    assert "file-size limit" in last and "ulimit -f" in last, last
    assert "was not (completely) written" in last or "was not written" in last, last
    assert "is intact" in last and where in last, last
    return last


# --------------------------------------------------------------------------- units
def test_atomic_write_refused_names_the_target_and_keeps_the_old_file(tmp_path: Path) -> None:
    """In a child with a 4 KiB limit: a 64 KiB write raises EFBIG naming the target (not the
    temp file), the old content stays, no temp file is left."""
    target = tmp_path / "metrics.json"
    target.write_text('{"old": 1}\n')
    code = (
        "import errno, sys\n"
        "from lab.atomic import atomic_write_bytes\n"
        "try:\n"
        f"    atomic_write_bytes({str(target)!r}, b'x' * 65536)\n"
        "except OSError as e:\n"
        "    print(e.errno == errno.EFBIG, e.filename)\n"
    )
    p = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
        preexec_fn=_limited(4 * KIB),
    )  # fmt: skip
    assert p.stdout.split() == ["True", str(target)], p.stdout + p.stderr
    assert target.read_text() == '{"old": 1}\n'
    assert sorted(f.name for f in tmp_path.iterdir()) == ["metrics.json"]


def test_a_wrapped_disk_error_names_the_file(tmp_path: Path) -> None:
    """A writer that fails with ENOSPC inside a library (re-raised as RuntimeError, as torch's
    zip writer does) still ends as an OSError naming the target; the old file is kept."""
    target = tmp_path / "model.zip"
    target.write_bytes(b"old")

    def writer(path: Path) -> None:
        try:
            path.write_bytes(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as exc:
            raise RuntimeError("file write failed") from exc

    with pytest.raises(OSError) as info:
        atomic_save(target, writer)
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(target)
    assert target.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [target]
    line = environment_error_line(info.value)
    assert line == (
        f"{target}: No space left on device (the disk is full: free space or write elsewhere); "
        f"model.zip was not (completely) written; every file written before it in {tmp_path} "
        "is intact; rerun once fixed"
    )


def test_run_cli_finds_the_disk_error_behind_a_wrapper(capsys: pytest.CaptureFixture) -> None:
    def main() -> int:
        try:
            atomic_write_bytes("/nonexistent-dir-for-test/x", b"")  # noqa: S108 (never written)
        except OSError:
            pass
        try:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG), "/runs/r/model.zip")
        except OSError as exc:
            raise RuntimeError("wrapped by a library") from exc

    assert run_cli(main) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: /runs/r/model.zip: File too large (the file-size limit")
    assert "model.zip was not (completely) written" in err


# --------------------------------------------------------------------------- commands
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished tiny PPO run, a supervised run, a trees run promoted into a registry."""
    tmp = tmp_path_factory.mktemp("disk_full")
    out = {"tmp": tmp, "ppo": tmp / "ppo", "sup": tmp / "sup", "trees": tmp / "trees"}
    out["models"] = tmp / "models"
    steps = [
        ["agents.ppo", "--env", "btc1h", "--timesteps", "256", "--no-progress", "--run-dir",
         str(out["ppo"])],
        ["supervised.train", "--env", "btc1h", "--epochs", "1", "--max-train-samples", "2000",
         "--max-val-bars", "2000", "--run-dir", str(out["sup"])],
        ["supervised.trees", "--env", "btc1h", "--max-train-samples", "3000", "--max-val-bars",
         "2000", "--run-dir", str(out["trees"])],
        ["agents.registry", "--root", str(out["models"]), "promote", str(out["trees"]), "--name",
         "t"],
    ]  # fmt: skip
    for args in steps:
        p = _run(args, tmp)
        assert p.returncode == 0, p.stderr[-3000:]
    return out


def _cases(m: dict[str, Path]) -> dict[str, tuple[list[str], int, list[Path], str]]:
    """id -> (argv, file-size limit, folders that must stay intact, the folder named)."""
    t, models = m["tmp"], str(m["models"])
    return {
        "ppo new run": (
            ["agents.ppo", "--env", "btc1h", "--timesteps", "256", "--no-progress", "--run-dir",
             str(t / "new_ppo")], 16 * KIB, [m["ppo"]], "new_ppo"),
        "ppo resume": (
            ["agents.ppo", "--resume", str(m["ppo"]), "--timesteps", "4096", "--no-progress"],
            16 * KIB, [], "ppo"),
        "supervised": (
            ["supervised.train", "--env", "btc1h", "--epochs", "1", "--max-train-samples", "2000",
             "--max-val-bars", "2000", "--run-dir", str(t / "new_sup")], 16 * KIB, [m["sup"]],
            "new_sup"),
        "trees": (
            ["supervised.trees", "--env", "btc1h", "--max-train-samples", "3000",
             "--max-val-bars", "2000", "--run-dir", str(t / "new_trees")], 16 * KIB,
            [m["trees"]], "new_trees"),
        "evaluate": (
            ["evaluate", "--env", "btc1h", "--split", "val", "--n-boot", "50", "--out",
             str(t / "new_eval"), str(m["ppo"])], 16 * KIB, [m["ppo"]], "ledger_returns"),
        "registry promote": (
            ["agents.registry", "--root", models, "promote", str(m["sup"]), "--name", "s"],
            16 * KIB, [m["sup"], m["models"]], "models"),
        "retrain": (
            ["agents.retrain", "--model", "t", "--root", models, "--window", "rolling",
             "--train-days", "200", "--val-days", "60"], 16 * KIB, [m["trees"], m["models"]],
            ""),
        "paper": (
            ["agents.paper", "--model", "t", "--root", models, "--candles",
             "data/btcusdt_1h.csv.gz", "--state", str(t / "paper"), "--replay"], 300,
            [m["models"]], "paper"),
    }  # fmt: skip


CASE_IDS = [
    "ppo new run",
    "ppo resume",
    "supervised",
    "trees",
    "evaluate",
    "registry promote",
    "retrain",
    "paper",
]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASE_IDS)
def test_file_size_limit_is_one_line_and_loses_nothing(case: str, made: dict[str, Path]) -> None:
    args, limit, keep, where = _cases(made)[case]
    if case == "ppo resume":
        keep = [made["ppo"]]
    before = _hashes(*keep)
    p = _run(args, made["tmp"], limit)
    _assert_one_line_refusal(p, where)
    after = _hashes(*keep)
    changed = [f for f in before if after.get(f) != before[f] and not _may_change(case, f)]
    assert not changed, changed


@pytest.mark.slow
def test_tune_stops_at_a_full_disk_and_the_rerun_completes_the_study(tmp_path: Path) -> None:
    """A trial whose files the disk refuses stops the study with one line naming the trial's
    file (not the worker's temp folder) and is not counted: the same command rerun after the
    fix ends with exactly ``--trials`` counted trials, both complete, and the ledger holds them."""
    out = tmp_path / "study"
    args = ["agents.tune", "--env", "btc1h", "--algo", "supervised", "--trials", "2",
            "--workers", "1", "--out", str(out), "--epochs", "1", "--max-train-samples", "512",
            "--max-val-bars", "500"]  # fmt: skip
    # past study.db's creation (~100 KiB), short of a trial's val returns
    last = _assert_one_line_refusal(_run(args, tmp_path, 120 * KIB), "study/trials/t0000/s0/")
    assert "rltrade-task" not in last
    p = _run(args, tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "0 finished, 2 to run" in p.stdout  # the refused trial is not counted
    storage = f"sqlite:///{out / 'study.db'}"
    trials = optuna.load_study(study_name="supervised", storage=storage).trials
    states = [t.state.name for t in trials]
    assert states == ["FAIL", "COMPLETE", "COMPLETE"], states
    assert str(trials[0].user_attrs["error"]).startswith("disk refused: ")


def _may_change(case: str, path: str) -> bool:
    """A resume that loaded appends to resumes.txt, records its new total in config.yaml and
    cuts TensorBoard back to its checkpoint (README "Agents"): records of the attempt, not
    results saved before it."""
    name = Path(path).name
    return case == "ppo resume" and (
        name in ("resumes.txt", "config.yaml") or name.startswith("events.out")
    )


def test_a_bare_write_error_is_named_from_the_open_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """``write()`` errors carry no file name: the wrapper finds the open file it failed on."""
    target = tmp_path / "trials.csv"

    def main() -> int:
        with open(target, "w") as fh:
            fh.write("a,b\n")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what fh.write raises

    assert run_cli(main) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target}: No space left on device (the disk is full")
    assert (
        f"trials.csv was not (completely) written; every file written before it in {tmp_path}"
        in err
    )
