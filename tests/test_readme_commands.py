"""README.md is an executable contract: every command in its code blocks runs as written.

``readme_commands`` extracts every command of README.md's ``bash`` (and unlabelled) code blocks:
comments stripped, backslash continuations joined, an indented line that continues a usage
synopsis joined to it. Each must be a key of ``STEPS``, the reviewed table below, and every key
must still be in the README: a command added, changed or removed fails
``test_every_readme_command_is_in_the_table`` until the table says how to run it.

``test_readme_commands_run_as_written`` (slow) runs them all, in the table's order, in a
throw-away copy of the checkout (its tracked and untracked-not-ignored files, the ``.venv``
linked, committed into a fresh git repository so that "nothing a README command writes dirties
the checkout" is checked too). Each command runs exactly as written except for:

* placeholders: ``<run>`` becomes the newest folder under the written parent that holds the
  rest of the written path (a run folder an earlier step created; never a group folder);
  ``FILE`` and the other per-step ones are in each step's ``subs``;
* usage synopses: ``[...]`` groups are optional and dropped (``--env btc1h [--seed S]`` runs
  ``--env btc1h``);
* tiny budgets, appended through documented flags (``budget``; the last occurrence of a flag
  wins in argparse, so ``--timesteps 20000 --timesteps 256`` trains 256 steps);
* network: a command that downloads runs with ``fake_exchange``, i.e. through
  ``tests/readme_fake_exchange.py``, which replaces ccxt's exchange with the offline fake that
  tests/test_data_fetch.py uses, serving the shipped candles (same interpreter, module and argv);
* the interpreter: a plain ``.venv/bin/python -m MODULE ARGS`` line runs in a child forked from
  one interpreter that has already imported torch, scikit-learn, skops and SB3
  (``tests/readme_zygote.py``): its own process, cwd, environment, files and exit code, without
  paying ~5 s of imports ~50 times; a line with shell syntax runs through bash;
* a server (``tensorboard``) counts as working once it prints the address it serves, then is
  stopped.

Not run, with the reason in the table: set-up command 1 (the main job: CI runs it verbatim, see
tests/test_readme_ci.py) and 2 (the test suite itself). The ``cron`` block is configuration (a
crontab line, not a shell command); its command field is run the way cron runs it (``sh -c``),
with the placeholder ``/path/to/rltrade-lab`` replaced by the copy.

``test_every_module_help_exits_0`` runs ``--help`` of every ``python -m`` entry point: each
package ``__main__`` and each module with an ``if __name__ == "__main__"`` block, in-process
through its real main block (``runpy``); two of them also in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.readme_zygote import ForkServer, exit_status, forkable

REPO = Path(__file__).resolve().parent.parent
PY = ".venv/bin/python"
PACKAGES = ("lab", "envs", "policies", "backtest", "supervised", "agents", "evaluate")
SHELL_LANGS = {"", "bash", "sh", "shell", "console"}
CONFIG_LANGS = {"cron"}  # configuration, not a command: see CRON below
# a config file's contents, not run (tests/test_multimarket_agents.py resolves the README's)
YAML_LANGS = {"yaml"}
STEP_TIMEOUT_S = 420
SERVER_WAIT_S = 90

# the budgets, one place: documented flags of each command (see its --help)
PPO = "--timesteps 256"
SUP = "--epochs 1 --max-train-samples 2000 --max-val-bars 2000"
BOOT = "--n-boot 100"
NEWER = "user/solusdt_1h_newer.csv.gz"
TREES = "--max-train-samples 20000 --max-val-bars 4000"
# walk-forward: every (method, fold, seed) trains; one seed, two folds, tiny trainings
WF = f"{PPO} --epochs 1 --max-train-samples 2000 --seeds 0 --folds 2 {BOOT}"


@dataclass(frozen=True)
class Step:
    """How one README command (``readme``, as extracted) is run; ``readme=None``: a prerequisite
    the README assumes the user has (a run folder, a file), created here by the same CLIs."""

    readme: str | None
    budget: str = ""  # documented flags appended to the command
    subs: dict[str, str] = field(default_factory=dict)  # placeholder -> value (literal)
    rc: int = 0  # the exit code the README promises (e.g. "# exit 2: the gate refuses it")
    fake_exchange: bool = False
    server: bool = False
    run: str | None = None  # the command to run when readme is None
    skip: str = ""  # why it is not run here


def _c(text: str) -> str:
    return " ".join(text.split())


STEPS: list[Step] = [
    Step(
        _c(
            'python3 -m venv .venv && .venv/bin/pip install torch==2.13.0 && .venv/bin/pip install -e ".[dev]" && .venv/bin/python -m agents.ppo --env btc1h'
        ),
        skip="set-up command 1: CI runs it verbatim on a clean clone (tests/test_readme_ci.py)",
    ),
    Step(f"{PY} -m pytest", skip="set-up command 2: the suite this test is part of"),
    # --- data
    Step(f"{PY} -m envs.data report btc1h --json"),
    Step(f"{PY} -m envs.data report data/btcusd_bitstamp_2011_1h.csv.gz"),
    Step(f"{PY} -m envs.data clean data/btcusd_bitstamp_2011_1h.csv.gz", rc=2),
    # the files the README's user brings (CryptoDataDownload CSV, Freqtrade feather), made here
    Step(None, run=f"{PY} -m tests.readme_user_files"),
    Step(f"{PY} -m envs.data report user/Binance_BTCUSDT_1h.csv"),
    Step(f"{PY} -m agents.ppo --env user/BTC_USDT-1h.feather --timesteps 20000", budget=PPO),
    Step(
        _c(f"""{PY} -m envs.data fetch --exchange binance --symbol SOL/USDT --timeframe 1h
            --since 2020-08-01 --out user/solusdt_1h.csv.gz"""),
        fake_exchange=True,
    ),
    Step(f"{PY} -m envs.data resample data/btcusdt_1h.csv.gz --to 1d --out user/btc_1d.csv.gz"),
    Step(f"{PY} -m agents.ppo --env user/solusdt_1h.csv.gz --timesteps 20000", budget=PPO),
    Step(f"{PY} -m agents.ppo --env user/solusdt_1h.csv.gz --bar 4h --seeds 0 1 2", budget=PPO),
    # the README's "newer candles" file is one the user brings: here the fetched file, copied
    Step(None, run=f"cp user/solusdt_1h.csv.gz {NEWER}"),
    Step(
        _c(f"""{PY} -m evaluate --env {NEWER} --start 2025-01-01
            runs/solusdt_1h/ppo/<run>"""),
        budget=BOOT,
    ),
    # --- agents (the synopsis without its optional parts is the main job: its run is <run>)
    Step(
        _c(f"""{PY} -m agents.ppo --env btc1h [--timesteps N] [--seed S] [--n-envs N]
            [--device auto|cpu|cuda] [--config FILE] [--run-dir DIR] [--resume RUN_DIR]
            [--warm-start CKPT] [--pretrained CKPT]"""),
        budget=PPO,
    ),
    Step(f"{PY} -m agents.sac --env btc1h", budget=PPO),
    Step(f"{PY} -m agents tqc --env btc1h", budget=PPO),
    Step(f"{PY} -m agents recurrent_ppo --env btc1h", budget=PPO),
    Step(".venv/bin/tensorboard --logdir runs", budget="--port 0", server=True),
    Step(f"{PY} -m evaluate --env btc1h --split test runs/btc1h/ppo/<run>", budget=BOOT),
    # --- supervised
    Step(
        f"{PY} -m supervised.train --env btc1h --labels forward_sharpe --class-weights logit_adjusted",
        budget=SUP,
    ),
    Step(f"{PY} -m supervised.compare --env btc1h", budget=SUP),
    Step(
        f"{PY} -m agents.ppo --env btc1h --warm-start runs/btc1h/supervised/<run>/model.pt",
        budget=PPO,
    ),
    Step(
        f"{PY} -m supervised.pretrain --out backbone.pt",
        budget="--epochs 1 --max-samples-per-market 2000",
    ),
    Step(f"{PY} -m agents.ppo --env btc1h --pretrained backbone.pt", budget=PPO),
    # --- evaluation
    Step(
        _c(f"""{PY} -m evaluate --env btc1h --split test [RUN_OR_CKPT ...]
            [--ensemble voting|confidence|disagreement]"""),
        budget=BOOT,
    ),
    Step(
        _c(f"""{PY} -m evaluate.walkforward --env btc1h --methods ppo supervised trees
            --seeds 0 1 2 --folds 6 --workers 2"""),
        budget=WF,
    ),
    Step(
        _c(f"""{PY} -m evaluate.walkforward --env eth1h --methods ppo supervised trees
            --seeds 0 1 --folds 4 --workers 2"""),
        budget=WF,
    ),
    Step(
        f"{PY} -m evaluate.walkforward --env btc4h --methods momentum --folds 3 --min-train 730d",
        budget=BOOT,
    ),
    Step(
        f"{PY} -m evaluate.walkforward --env btc1h --methods trees --folds 4 --train-span 3y",
        budget=f"--max-train-samples 2000 {BOOT}",
    ),
    Step(
        _c(f"""{PY} -m evaluate.walkforward --env btc1h --methods supervised trees --cv cpcv
            --groups 6 --test-groups 2"""),
        budget=f"--groups 4 --epochs 1 --max-train-samples 2000 {BOOT}",
    ),
    # --- portfolios: the allocation baselines on a universe
    Step(f"{PY} -m agents.ppo --env btc1h,eth1h --seed 0", budget=PPO),
    Step(f"{PY} -m evaluate.portfolio --run runs/btc1h_eth1h/ppo/<run> --split test"),
    Step(f"{PY} -m evaluate.portfolio --env btc1h,eth1h --split test"),
    Step(f"{PY} -m agents.ppo --env btc1h,eth1h,user/solusdt_1h.csv.gz", budget=PPO),
    # --- many seeds, searches, walk-forward on Ray
    Step(f"{PY} -m agents.ppo --env btc1h --seeds 0 1 2 --workers 2", budget=PPO),
    Step(f"{PY} -m agents.ppo --env btc1h eth1h --timesteps 50000", budget=PPO),
    Step(
        f"{PY} -m agents.tune --env btc1h --algo ppo --trials 20 --workers 2 --timesteps 100000",
        budget="--trials 2 --timesteps 2048",
    ),
    Step(
        _c(f"""{PY} -m agents.tune --env btc1h --algo ppo --trials 20 --workers 2
            --timesteps 100000 --objective walkforward --folds 4 --study ppo_wf"""),
        budget="--trials 1 --timesteps 256 --n-envs 2 --evals-per-trial 1 --folds 2 --val-bars 500",
    ),
    Step(
        _c(f"""{PY} -m evaluate.walkforward --env btc1h --methods ppo sac supervised trees
            --seeds 0 1 2 3 4 --folds 4 --workers 2"""),
        budget=WF,
    ),
    # --- serving
    Step(
        f"{PY} -m supervised.trees --env btc1h --seed 0 --run-dir runs/btc1h/trees/serving_s0",
        budget=TREES,
    ),
    Step(f"{PY} -m agents.registry promote runs/btc1h/trees/serving_s0 --name trees_btc"),
    Step(f"{PY} -m agents.registry list"),
    Step(
        f"{PY} -m agents.predict --model trees_btc --candles data/btcusdt_1h.csv.gz --replay --json"
    ),
    Step(
        f"{PY} -m agents.predict --model trees_btc --exchange binance --symbol BTC/USDT",
        fake_exchange=True,
    ),
    Step(
        f"{PY} -m agents.paper --model trees_btc --candles data/btcusdt_1h.csv.gz --state paper/ --replay"
    ),
    Step(
        f"{PY} -m agents.retrain --model trees_btc --window rolling --train-days 365 --val-days 60"
    ),
    Step(
        f"{PY} -m agents.ppo --env btc1h --seeds 0 1 2 --run-dir runs/btc1h/ppo/serving_group",
        budget=f"{PPO} --workers 1",
    ),
    Step(
        f"{PY} -m agents.registry promote runs/btc1h/ppo/serving_group --name ppo_btc_vote "
        "--ensemble voting"
    ),
    Step(
        f"{PY} -m agents.predict --model ppo_btc_vote --candles data/btcusdt_1h.csv.gz --replay "
        "--json"
    ),
]
CRON_PREFIX = re.compile(r"^\s*(\S+\s+){5}")  # minute hour day month weekday
CRON_PATH = "/path/to/rltrade-lab"


# --------------------------------------------------------------------------- extraction
def code_blocks(text: str) -> list[tuple[str, list[str]]]:
    """``(language, lines)`` of every fenced code block, in order."""
    blocks, lang, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if lang is None:
                lang, lines = line[3:].strip(), []
            else:
                blocks.append((lang, lines))
                lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


def _strip_comment(line: str) -> str:
    """The line without its shell comment (``#`` at the start or after a blank, outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def shell_commands(lines: list[str]) -> list[str]:
    """Commands of one shell block: comments stripped, ``\\`` continuations and indented synopsis
    continuation lines joined, whitespace collapsed."""
    commands: list[str] = []
    pending = False  # the previous line ended with a backslash
    for raw in lines:
        line = _strip_comment(raw).rstrip()
        if not line.strip():
            pending = False
            continue
        continued = pending or (raw[:1].isspace() and commands)
        pending = line.endswith("\\")
        line = line.removesuffix("\\")
        if continued:
            commands[-1] = _c(commands[-1] + " " + line)
        else:
            commands.append(_c(line))
    return commands


def readme_commands(text: str) -> tuple[list[str], list[str]]:
    """``(shell commands, cron lines)`` of README.md; an unknown block language is an error."""
    commands, cron = [], []
    for lang, lines in code_blocks(text):
        if lang in SHELL_LANGS:
            commands += shell_commands(lines)
        elif lang in CONFIG_LANGS:
            cron += [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        elif lang in YAML_LANGS:
            continue
        else:
            raise AssertionError(
                f"README.md has a ```{lang} block: say in tests/test_readme_commands.py whether "
                "it holds commands (SHELL_LANGS) or configuration"
            )
    return commands, cron


def test_extraction_rules() -> None:
    text = "\n".join(
        [
            "```bash",
            "# a comment line",
            "python -m a --x 1   # says why",
            "python -m b --long \\",
            "    --more 2",
            "python -m c [--opt N]",
            "              [--other M]",
            "echo 'keep # this'",
            "```",
            "```cron",
            "15 2 * * 1  cd /x && run",
            "```",
        ]
    )
    assert readme_commands(text) == (
        ["python -m a --x 1", "python -m b --long --more 2", "python -m c [--opt N] [--other M]",
         "echo 'keep # this'"],
        ["15 2 * * 1  cd /x && run"],
    )  # fmt: skip
    with pytest.raises(AssertionError, match="```python"):
        readme_commands("```python\nprint(1)\n```\n")


def test_every_readme_command_is_in_the_table() -> None:
    commands, cron = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    known = {s.readme for s in STEPS if s.readme is not None}
    new = [c for c in commands if c not in known]
    assert not new, (
        "README.md has commands tests/test_readme_commands.py's STEPS does not know (add each, "
        "with its budget and placeholders):\n" + "\n".join(new)
    )
    gone = sorted(known - set(commands))
    assert not gone, "STEPS lists commands README.md no longer has:\n" + "\n".join(gone)
    assert len(commands) == len(set(commands)), "a README command appears twice"
    assert all(CRON_PREFIX.match(c) and CRON_PATH in c for c in cron), cron


# --------------------------------------------------------------------------- running
def _copy_checkout(dest: Path) -> None:
    """Tracked and untracked-not-ignored files of the checkout, committed into a fresh repo."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    (dest / ".venv").symlink_to(REPO / ".venv")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "copy"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)


def resolve_run(command: str, root: Path) -> str:
    """Each ``PARENT/<run>[/REST]`` -> the newest folder under PARENT holding REST (or a
    config.yaml) that is not a seed group."""

    def newest(match: re.Match[str]) -> str:
        parent, rest = match.group(1), match.group(2) or ""
        need = rest.lstrip("/") or "config.yaml"
        found = [
            d for d in (root / parent).glob("*")
            if d.is_dir() and (d / need).exists() and not (d / "group.json").exists()
        ]  # fmt: skip
        if not found:
            raise AssertionError(
                f"{match.group(0)}: no run under {parent} (an earlier step failed?)"
            )
        return str(max(found, key=lambda d: d.stat().st_mtime).relative_to(root)) + rest

    return re.sub(r"(\S+)/<run>(/\S*)?", newest, command)


def runnable(step: Step, root: Path) -> str:
    """The shell command line of a step: synopsis brackets dropped, placeholders filled, the
    budget appended, the fake exchange launcher in front when it needs the network."""
    command = step.run or step.readme or ""
    command = _c(re.sub(r"\[[^\]]*\]", " ", command))
    for key, value in step.subs.items():
        command = re.sub(rf"(?<![\w/.-]){re.escape(key)}(?![\w/.-])", value, command)
    command = resolve_run(command, root)
    if step.fake_exchange:
        command = command.replace(f"{PY} -m ", f"{PY} -m tests.readme_fake_exchange ", 1)
    return _c(f"{command} {step.budget}")


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RLTRADE_DEBUG", "PYTHONPATH")}
    return {**env, "RLTRADE_RUNS_ROOT": str(root / "runs"), "MPLBACKEND": "Agg"}


def _serve(command: str, root: Path) -> tuple[int, str]:
    """Start a server; 0 once it prints the address it serves (then stopped), else 1."""
    log = root.parent / "server.log"
    with open(log, "w") as out_fh:
        p = subprocess.Popen(
            shlex.split(command), cwd=root, env=_env(root), stdout=out_fh,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + SERVER_WAIT_S
        while time.monotonic() < deadline and p.poll() is None and "http://" not in log.read_text():
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
    out = log.read_text()
    return (0 if "http://" in out else 1), out


def run_step(step: Step, root: Path, forks: ForkServer | None = None) -> tuple[str, int, str]:
    """``(command, exit code, output tail)``; a plain ``PY -m MODULE ARGS`` line in a child of
    ``forks`` when given (the imports paid once), anything else through bash."""
    command = runnable(step, root)
    if step.server:
        code, out = _serve(command, root)
        return command, code, out[-3000:]
    argv = forkable(command, PY)
    if forks is not None and argv is not None:
        code, stdout, stderr = forks.run(argv, root, _env(root), STEP_TIMEOUT_S)
        return command, code, (stdout[-1500:] + "\n--- stderr\n" + stderr[-3000:])
    p = subprocess.run(
        ["bash", "-c", command], cwd=root, env=_env(root), capture_output=True, text=True,
        timeout=STEP_TIMEOUT_S,
    )  # fmt: skip
    return command, p.returncode, (p.stdout[-1500:] + "\n--- stderr\n" + p.stderr[-3000:])


def cron_command(line: str, root: Path) -> str:
    """The command field of a crontab line, with the checkout path filled."""
    return CRON_PREFIX.sub("", line).replace(CRON_PATH, str(root))


@pytest.mark.slow
def test_readme_commands_run_as_written(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    root.mkdir()
    _copy_checkout(root)
    _, cron = readme_commands((REPO / "README.md").read_text(encoding="utf-8"))
    steps = [s for s in STEPS if not s.skip]
    steps += [Step(None, run=cron_command(line, root)) for line in cron]
    failures, timings = [], []
    forks = ForkServer(str(root / PY), root, _env(root), tmp_path)
    try:
        for step in steps:
            t0 = time.monotonic()
            try:
                command, code, out = run_step(step, root, forks)
            except Exception as err:  # noqa: BLE001 (a placeholder without a run, a timeout: reported, next step)
                failures.append(f"{step.readme or step.run}\n  {err}")
                continue
            timings.append(f"{time.monotonic() - t0:6.1f} s  exit {code}  {command}")
            print(timings[-1], flush=True)  # with -s: progress as it goes
            if code != step.rc:
                failures.append(f"{command}\n  exit {code}, the README promises {step.rc}:\n{out}")
    finally:
        forks.close()
    assert not failures, f"{len(failures)} README command(s) failed:\n\n" + "\n\n".join(failures)
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert not dirty, f"README commands wrote files git does not ignore:\n{dirty}"


# --------------------------------------------------------------------------- --help
def entry_points() -> list[str]:
    """Every ``python -m`` target: packages with ``__main__.py``, modules with a main block."""
    found = set()
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            rel = path.relative_to(REPO).with_suffix("")
            if path.name == "__main__.py":
                found.add(".".join(rel.parts[:-1]))
            elif 'if __name__ == "__main__"' in path.read_text(encoding="utf-8"):
                found.add(".".join(rel.parts))
    return sorted(found)


def test_entry_points_found() -> None:
    points = entry_points()
    for expected in ("agents.ppo", "evaluate", "envs.data", "evaluate.walkforward", "lab.layers"):
        assert expected in points, points


def _help_in_process(module: str) -> tuple[int, str]:
    """``python -m module --help`` through the module's real ``__main__`` block (``runpy``), in
    this process: the imports are paid once for all modules, not once per interpreter."""
    out = io.StringIO()
    saved = sys.argv
    sys.argv = [module, "--help"]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # runpy: "found in sys.modules" for packages
                runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.argv = saved
    return exit_status(code), out.getvalue()


def test_every_module_help_exits_0(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    results = [(m, *_help_in_process(m)) for m in entry_points()]
    bad = [f"{m}: exit {code}\n{out[-1500:]}" for m, code, out in results if code != 0]
    assert not bad, "\n\n".join(bad)
    assert all("usage:" in out for _, _, out in results), [
        m for m, _, o in results if "usage:" not in o
    ]


@pytest.mark.slow
def test_help_in_a_fresh_interpreter_exits_0() -> None:
    """The same contract as a user meets it: a new process per command (two entry points: the
    agents table and a leaf command), so import-time failures outside ``runpy`` show too."""
    for module in ("agents", "evaluate.walkforward"):
        p = subprocess.run(
            [sys.executable, "-m", module, "--help"], cwd=REPO, capture_output=True, text=True,
            timeout=120, env=_env(REPO),
        )  # fmt: skip
        assert p.returncode == 0 and "usage:" in p.stdout, p.stdout + p.stderr
