"""Hyperparameter search: ``python -m agents.tune --env btc1h --algo ppo|sac|supervised``.

    python -m agents.tune --env btc1h --algo ppo --trials 20 [--workers N] [--address ADDR]
        [--storage URL] [--study NAME] [--seeds-per-trial k] [--timesteps N] [--space FILE]
        [other flags: passed to every trial's training command, e.g. --max-train-samples 2000]

Optuna's TPE sampler proposes configurations from the algorithm's search space
(``agents/configs/search/<algo>.yml``); the objective is the val split's full backtest Sharpe of
the val-selected model (never test), averaged over k seeds; a median pruner stops trials whose
val evaluations trail the finished ones (``agents.experiments.tune_trial``). Ask/tell happens here on the
driver, trials run as engine tasks (``lab.engine``: a local Ray, or a cluster with
``--address``), and their run folders land in ``<out>/trials/t<number>/s<seed>/``.

The study lives in ``runs/<env>/tune/<study>/study.db`` (SQLite) unless ``--storage`` names
another Optuna storage URL (checked first: ``agents.experiments.tune_storage``). The search space and every
flag passed on to the trials are checked before any trial (``agents.experiments.tune_space``). The study
holds exactly ``--trials`` trials: a failed trial counts (it was tried) and is not retried, its
reason is printed; if every trial of the command failed it exits 1 with the first reason.
Rerunning the same command resumes it: ended trials are kept and count towards ``--trials``; a
trial left RUNNING by a dead driver on this host is marked FAIL (listed in trials.csv, not
counted) and a new trial takes its place; a trial the disk refused (full, quota, file-size
limit) stops the command with one line naming the file (exit 2) and is not counted either, so
the rerun after the fix runs the study to ``--trials``. Every trial's seeds
are appended to the market's trial ledger (source ``tune``). Writes ``best.yml`` (a file
``--config`` accepts), ``trials.csv``/``trials.md`` and ``history.html``/``importance.html``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna

from agents.experiments.seed_group import read_rl_metrics
from agents.experiments.seed_group import record_once as record_rl
from agents.experiments.tune_config import ALGOS, TuneConfig, build_parser, config_from_args  # noqa: F401
from agents.experiments.tune_folds import check_fold_args, check_study_objective, record_fold_trial
from agents.experiments.tune_report import write_outputs
from agents.experiments.tune_space import (
    SPACE_DIR,
    check_passthrough,
    check_space,
    load_space,
    rl_budget,
    rl_passthrough,
)
from agents.experiments.tune_storage import check_sqlite_file, check_storage, open_study
from agents.experiments.tune_trial import make_pruner
from envs.marketspec import market_dirname
from lab.atomic import DISK_ERRNOS, atomic_write_yaml
from lab.config import ConfigError
from lab.engine import Engine, Task, TaskResult, check_address
from lab.ledger import default_runs_root
from lab.outputs import check_output_dir
from lab.runtime import check_device
from supervised.seed_group import record_once as record_supervised

KILLED = "driver killed mid-trial"  # a FAIL of this kind is replaced, not counted
DISK = "disk refused: "  # neither: the machine failed, not the configuration (not counted)
DISK_REASON = re.compile(r"\[Errno (\d+)\] ([^:']+)(?:: '([^']*)')?")


class AllTrialsFailed(Exception):
    """Every trial this command ran failed (the message holds the first one's reason)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_stale(study: optuna.Study) -> int:
    """Mark FAIL the RUNNING trials whose driver (this host, pid) is dead; returns how many."""
    host, n = socket.gethostname(), 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if t.user_attrs.get("driver_host") == host and not _alive(int(t.user_attrs["driver_pid"])):
            study._storage.set_trial_user_attr(t._trial_id, "error", KILLED)
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            n += 1
    return n


def _history(study: optuna.Study) -> list[dict[str, Any]]:
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return [{"value": t.value, "intermediate": dict(t.intermediate_values)} for t in done]


def counted(study: optuna.Study) -> int:
    """Trials that count towards ``--trials``: every ended one but those of a killed driver."""
    states = (
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.FAIL,
    )
    trials = study.get_trials(deepcopy=False, states=states)
    return sum(1 for t in trials if not _not_counted(str(t.user_attrs.get("error", ""))))


def _not_counted(error: str) -> bool:
    return error == KILLED or error.startswith(DISK)


def disk_failure(reason: str, trial_dir: Path) -> OSError | None:
    """The disk refusal (full, quota, file-size limit) behind a trial's failure, its file named
    in the trial's folder rather than the worker's temporary one; None for any other reason."""
    m = DISK_REASON.search(reason)
    if m is None or int(m.group(1)) not in DISK_ERRNOS:
        return None
    name = m.group(3)
    if name is not None:  # the worker writes in a temp folder that becomes the trial's
        name = re.sub(r"^.*?rltrade-task-[^/]+/out(?=/|$)", str(trial_dir), name)
    return OSError(int(m.group(1)), m.group(2).strip(), name)


def _record(args: TuneConfig, trial: optuna.Trial, res: TaskResult, state: str) -> None:
    """Every seed of the trial into the market's ledger (source tune)."""
    if args.objective == "walkforward":  # with the folds' val returns
        record_fold_trial(args, trial.number, Path(str(res.out_dir)), res.value or {}, state)
        return
    extra = {"study": args.study, "trial": trial.number, "node_id": res.node_id, "state": state}
    for s in (res.value or {}).get("seeds", {}):
        run = Path(str(res.out_dir)) / f"s{s}"
        if args.algo == "supervised":
            record_supervised(run, "tune", **extra)
        else:
            record_rl(run, args.algo, "tune", read_rl_metrics(run, args.algo), **extra)


def failure_reason(res: TaskResult, out_dir: Path) -> str:
    """One line: the exception that ended the trial, or the error line a CLI printed before
    ``SystemExit`` (kept in the trial's ``<out>.failed/log.txt``)."""
    lines = [ln.strip() for ln in (res.error or "").strip().splitlines() if ln.strip()]
    last = lines[-1] if lines else "failed"
    log = out_dir.with_name(f"{out_dir.name}.failed") / "log.txt"
    if re.fullmatch(r"SystemExit: \d+", last) and log.is_file():
        said = [ln for ln in log.read_text(encoding="utf-8").splitlines() if "error:" in ln]
        last = said[-1].strip() if said else last
    return re.sub(r"^(\w+\.)+(?=\w+(Error|Exception): )", "", last)


def tell(
    study: optuna.Study, trial: optuna.Trial, res: TaskResult, args: TuneConfig, trial_dir: Path
) -> str:
    """Report the trial's val evaluations, then tell Optuna how it ended; returns the state
    (a failure's one-line reason in the trial's ``error`` attribute)."""
    trial.set_user_attr("node_id", res.node_id)
    trial.set_user_attr("hostname", res.hostname)
    trial.set_user_attr("wall_s", round(res.wall_s, 1))
    if res.ok and not all(res.value["seeds"].values()):  # a seed without a val backtest
        res.ok, res.error = False, "a seed finished without a complete metrics.json"
    if not res.ok:
        reason = failure_reason(res, trial_dir)
        disk = disk_failure(reason, trial_dir) is not None
        trial.set_user_attr("error", DISK + reason if disk else reason)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return "FAIL"
    value = res.value
    trial.set_user_attr("run_dir", res.out_dir)
    sharpes = {s: (m or {}).get("val_sharpe") for s, m in value["seeds"].items()}
    trial.set_user_attr("seed_val_sharpes", sharpes)
    for step, v in sorted(value["intermediate"].items()):
        trial.report(float(v), int(step))
    _record(args, trial, res, "PRUNED" if value["pruned"] else "COMPLETE")
    if value["pruned"]:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return "PRUNED"
    vals = [0.0 if v is None else float(v) for v in sharpes.values()]  # flat counts as 0
    # --objective walkforward: the task's own statistic over the folds (tune_folds.objective)
    study.tell(trial, float(value.get("objective", sum(vals) / len(vals))))
    return "COMPLETE"


def _task(
    args: TuneConfig,
    study: optuna.Study,
    trial: optuna.Trial,
    out_dir: Path,
    base: dict[str, Any],
    plans: list[Any] | None = None,
) -> Task:
    rl = args.algo != "supervised"
    extra = ["--device", args.device, *rl_passthrough(args)] if rl else list(args.passthrough)
    fixed = rl_budget(args, base, trial.params) if rl else _supervised_budget(args)
    trial.set_user_attr("budget", fixed)  # best.yml: the best trial's own budget
    kwargs = {
        "algo": args.algo,
        "env": args.env,
        "params": {**trial.params, **fixed},
        "seeds": list(range(args.seeds_per_trial)),
        "extra_argv": extra,
        "history": _history(study),
        "pruner": args.pruner,
        "base_layer": base,
    }
    if plans is not None:  # --objective walkforward: every fold's val block scores the trial
        kwargs.update(plans=plans, stat=args.objective_stat)
        fn = "agents.experiments.tune_folds:run_fold_trial"
        return Task(f"t{trial.number}", fn, kwargs, str(out_dir))
    return Task(f"t{trial.number}", "agents.experiments.tune_trial:run_trial", kwargs, str(out_dir))


def _supervised_budget(args: TuneConfig) -> dict[str, Any]:
    return {} if args.epochs is None else {"epochs": args.epochs}


def optimise(
    args: TuneConfig,
    study: optuna.Study,
    out: Path,
    space: dict[str, Any],
    base: dict[str, Any],
    engine: Engine,
    plans: list[Any] | None = None,
) -> list[tuple[int, str]]:
    """Ask/tell until the study holds ``--trials`` trials; returns this command's failures
    (trial number, reason) and raises ``AllTrialsFailed`` when every trial it ran failed."""
    remaining = max(0, args.trials - counted(study))
    print(f"study {args.study}: {counted(study)} finished, {remaining} to run ({out})")
    inflight: dict[str, optuna.Trial] = {}
    failures: list[tuple[int, str]] = []
    ran, refused = 0, None
    while remaining or inflight:
        while remaining and len(inflight) < args.workers:
            trial = _ask(study, space)
            trial_dir = out / "trials" / f"t{trial.number:04d}"
            engine.submit(_task(args, study, trial, trial_dir, base, plans))
            inflight[f"t{trial.number}"] = trial
            remaining -= 1
        res = engine.next_done()
        trial = inflight.pop(res.key)
        trial_dir = out / "trials" / f"t{trial.number:04d}"
        state, ran = tell(study, trial, res, args, trial_dir), ran + 1
        where = f"on node {res.node_id[:12]} in {res.wall_s:.0f}s"
        if state == "FAIL":
            reason = str(study.trials[trial.number].user_attrs["error"])
            if (disk := disk_failure(reason, trial_dir)) is not None:
                # every later trial would fail the same way: stop asking, then say it once
                remaining, refused = 0, refused or disk
                continue
            failures.append((trial.number, reason))
            print(f"trial {trial.number}: FAIL ({reason}) {where}")
        else:
            value = study.trials[trial.number].value
            shown = "" if value is None else f" val Sharpe {value:+.3f}"
            print(f"trial {trial.number}: {state}{shown} {where}")
    if refused is not None:  # one line (lab.cli): the file, the limit, the fix; trials kept
        raise refused
    return _check_failures(failures, ran, out)


def _check_failures(failures: list[tuple[int, str]], ran: int, out: Path) -> list[tuple[int, str]]:
    if ran and len(failures) == ran:
        number, reason = failures[0]
        raise AllTrialsFailed(
            f"all {ran} trial(s) failed; the first (trial {number}): {reason}; its log: "
            f"{out / 'trials' / f't{number:04d}.failed' / 'log.txt'}"
        )
    return failures


def _ask(study: optuna.Study, space: dict[str, Any]) -> optuna.Trial:
    """``study.ask`` with this driver (host, pid) written in the same transaction that makes
    the trial RUNNING (an enqueued template), so a driver killed at any instant leaves no
    RUNNING trial that ``fail_stale`` cannot attribute."""
    me = {"driver_host": socket.gethostname(), "driver_pid": os.getpid()}
    study.enqueue_trial({}, user_attrs=me)
    trial = study.ask(space)
    for k, v in me.items():  # another driver's orphaned template may have been popped
        trial.set_user_attr(k, v)
    return trial


def check_args(args: Any) -> tuple[dict[str, Any], dict[str, Any], list[Any] | None]:
    """Every user input checked before the study folder exists (one line each, exit 2);
    returns the search space, the passed-through RL ``--config`` layer and the fold plans
    (``--objective walkforward``; None for the val objective)."""
    for flag in ("trials", "workers", "seeds_per_trial", "evals_per_trial"):
        check_positive(flag, getattr(args, flag))
    for flag in ("timesteps", "epochs", "n_envs"):
        if getattr(args, flag) is not None:
            check_positive(flag, getattr(args, flag))
    rl_only = [f for f in ("timesteps", "n_envs") if getattr(args, f) is not None]
    if args.algo == "supervised" and rl_only:  # never silently ignored
        raise ConfigError(f"--{rl_only[0].replace('_', '-')} is for --algo ppo/sac; drop it")
    if args.algo != "supervised" and args.epochs is not None:
        raise ConfigError(f"--epochs is for --algo supervised, not {args.algo}; drop it")
    if args.space is not None and not Path(args.space).is_file():
        raise ConfigError(f"--space {args.space}: no such file; give a search space YAML")
    space_file = Path(args.space or SPACE_DIR / f"{args.algo}.yml")
    space = load_space(space_file)
    base = check_passthrough(args)  # an unknown flag: refused once, here
    check_space(args, space, base, space_file)
    if args.storage is not None:
        check_storage(args.storage)
    check_address(args.address)
    check_device(args.device)  # a GPU nobody has: Ray waited for it forever
    if args.out is not None:  # rerunning into the same folder resumes the study
        check_output_dir(Path(args.out), "--out", allow_nonempty=True)
    return space, base, check_fold_args(args)


def check_positive(name: str, value: int) -> None:
    """``value`` >= 1, else one line naming the flag."""
    if value < 1:
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} {value}: must be >= 1")


def main(argv: list[str] | None = None) -> Path:
    """Run (or resume) the study; write best.yml, the trials table and the plots.

    Raises ``AllTrialsFailed`` (after writing the tables) when every trial it ran failed."""
    # flags tune does not know go to every trial's training command (e.g. --max-train-samples)
    args = config_from_args(sys.argv[1:] if argv is None else list(argv))
    space, base, plans = check_args(args)
    assert args.study is not None  # config_from_args defaults it to the algo
    out = args.out or default_runs_root() / market_dirname(args.env) / "tune" / args.study
    if args.storage is None and out.is_dir():  # a damaged study.db of an earlier run
        check_sqlite_file(out / "study.db", f"study database {out / 'study.db'}")
    # Ray first (a cluster that does not answer: one line, nothing written), then the folder
    with Engine(args.workers, args.address, device=args.device) as engine:
        out.mkdir(parents=True, exist_ok=True)
        engine.log_to(out)  # Ray's log: <study folder>/ray.log
        # the resolved settings of the latest (re)start, next to the study they drive
        settings = json.loads(json.dumps(asdict(args), default=str))
        atomic_write_yaml(out / "tune_config.yaml", settings)
        storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # its warnings: printed by us
        sampler = optuna.samplers.TPESampler(seed=args.sampler_seed)
        study = open_study(args.study, storage, sampler, make_pruner(args.pruner))
        check_study_objective(study, args)  # one study, one meaning of its values
        stale = fail_stale(study)
        if stale:
            print(f"study {args.study}: {stale} trial(s) left by a killed driver marked FAIL")
        try:
            optimise(args, study, out, space, base, engine, plans)
        except BaseException as err:  # the tables say what failed, even when everything did
            _outputs_after(study, out, args, err)
            raise
        write_outputs(study, out, rl=args.algo != "supervised")
    return out


def _outputs_after(study: optuna.Study, out: Path, args: TuneConfig, err: BaseException) -> None:
    """The tables after a failure; when the disk refused a trial's file the pages may fail too,
    and the line the user sees stays the trial's."""
    try:
        write_outputs(study, out, rl=args.algo != "supervised")
    except OSError as page_err:
        if not (isinstance(err, OSError) and err.errno in DISK_ERRNOS):
            raise page_err from err


def cli() -> int:
    """``main`` with every trial failed as one line and exit code 1 (bad input: 2)."""
    try:
        main()
    except AllTrialsFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0
