"""Hyperparameter search: ``python -m agents.tune --env btc1h --algo ppo|sac|supervised``.

    python -m agents.tune --env btc1h --algo ppo --trials 20 [--workers N] [--address ADDR]
        [--storage URL] [--study NAME] [--seeds-per-trial k] [--timesteps N] [--space FILE]
        [other flags: passed to every trial's training command, e.g. --max-train-samples 2000]

Optuna's TPE sampler proposes configurations from the algorithm's search space
(``agents/configs/search/<algo>.yml``); the objective is the val split's full backtest Sharpe of
the val-selected model (never test), averaged over k seeds; a median pruner stops trials whose
val evaluations trail the finished ones (``agents.tune_trial``). Ask/tell happens here on the
driver, trials run as engine tasks (``lab.engine``: a local Ray, or a cluster with
``--address``), and their run folders land in ``<out>/trials/t<number>/s<seed>/``.

The study lives in ``runs/<env>/tune/<study>/study.db`` (SQLite) unless ``--storage`` names
another Optuna storage URL. Rerunning the same command resumes it: finished trials are kept
and count towards ``--trials``; a trial left RUNNING by a dead driver on this host is marked
FAIL (listed in trials.csv, not counted) and a new trial takes its place. Every trial's seeds
are appended to the market's trial ledger (source ``tune``). Writes ``best.yml`` (a file
``--config`` accepts), ``trials.csv``/``trials.md`` and ``history.html``/``importance.html``.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
import yaml

from agents.seed_group import read_rl_metrics, record_once
from agents.tune_config import ALGOS, TuneConfig, build_parser, config_from_args  # noqa: F401
from agents.tune_report import write_outputs
from agents.tune_trial import make_pruner
from envs.marketspec import market_dirname
from lab.atomic import atomic_write_yaml
from lab.cli import run_cli
from lab.config import ConfigError, parse_yaml, yaml_problem
from lab.engine import Engine, Task, TaskResult, check_address
from lab.ledger import default_runs_root
from lab.outputs import check_output_dir
from lab.runtime import check_device
from supervised.seed_group import record_once as record_supervised

SPACE_DIR = Path(__file__).resolve().parent / "configs" / "search"


def load_space(path: Path) -> dict[str, optuna.distributions.BaseDistribution]:
    """The YAML search space as Optuna distributions; a bad entry exits naming it."""
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(
            f"--space {path}: not valid YAML ({yaml_problem(err)}); fix the file"
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(f"--space {path}: expected a YAML mapping of parameter -> distribution")
    if not raw:  # an empty space would run trials of the defaults only, silently
        raise ConfigError(
            f"--space {path}: no parameters; write NAME: {{type: float, low: L, high: H}} lines"
        )
    space: dict[str, optuna.distributions.BaseDistribution] = {}
    for name, d in raw.items():
        try:
            space[name] = _distribution(d)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            what = f"missing key {err}" if isinstance(err, KeyError) else " ".join(str(err).split())
            raise ConfigError(
                f"--space {path}: {name}: {what}; "
                "write {type: float|int, low: L, high: H[, log: true]} or "
                "{type: categorical, choices: [...]}"
            ) from None
    return space


def _distribution(d: Any) -> optuna.distributions.BaseDistribution:
    """One search-space entry as an Optuna distribution (a bad entry raises)."""
    if not isinstance(d, dict):
        raise TypeError(f"expected a mapping, got {d!r}")
    kind = d.get("type")
    if kind == "float":
        return optuna.distributions.FloatDistribution(
            float(d["low"]), float(d["high"]), log=bool(d.get("log", False))
        )
    if kind == "int":
        return optuna.distributions.IntDistribution(
            int(d["low"]), int(d["high"]), log=bool(d.get("log", False))
        )
    if kind == "categorical":
        return optuna.distributions.CategoricalDistribution(list(d["choices"]))
    raise ValueError(f"type {kind!r}; use float, int or categorical")


def fixed_params(args: TuneConfig) -> dict[str, Any]:
    """What every trial shares (the budget), written into each trial's config and best.yml."""
    if args.algo == "supervised":
        return {} if args.epochs is None else {"epochs": args.epochs}
    fixed: dict[str, Any] = {}
    if args.timesteps is not None:
        fixed["train.total_timesteps"] = args.timesteps
        fixed["train.eval_freq"] = max(1, args.timesteps // max(1, args.evals_per_trial))
    if args.n_envs is not None:
        fixed["env.n_envs"] = args.n_envs
    return fixed


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
            study._storage.set_trial_user_attr(t._trial_id, "error", "driver killed mid-trial")
            study._storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
            n += 1
    return n


def _history(study: optuna.Study) -> list[dict[str, Any]]:
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    return [{"value": t.value, "intermediate": dict(t.intermediate_values)} for t in done]


def _finished(study: optuna.Study) -> int:
    states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(study.get_trials(deepcopy=False, states=states))


def _record(args: TuneConfig, trial: optuna.Trial, res: TaskResult, state: str) -> None:
    """Every seed of the trial into the market's ledger (source tune)."""
    extra = {"study": args.study, "trial": trial.number, "node_id": res.node_id, "state": state}
    for s in (res.value or {}).get("seeds", {}):
        run = Path(str(res.out_dir)) / f"s{s}"
        if args.algo == "supervised":
            record_supervised(run, "tune", **extra)
        else:
            record_once(run, args.algo, "tune", read_rl_metrics(run, args.algo), **extra)


def tell(study: optuna.Study, trial: optuna.Trial, res: TaskResult, args: TuneConfig) -> str:
    """Report the trial's val evaluations, then tell Optuna how it ended; returns the state."""
    trial.set_user_attr("node_id", res.node_id)
    trial.set_user_attr("hostname", res.hostname)
    trial.set_user_attr("wall_s", round(res.wall_s, 1))
    if res.ok and not all(res.value["seeds"].values()):  # a seed without a val backtest
        res.ok, res.error = False, "a seed finished without a complete metrics.json"
    if not res.ok:
        trial.set_user_attr("error", (res.error or "").strip().splitlines()[-1:])
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
    study.tell(trial, sum(vals) / len(vals))
    return "COMPLETE"


def _task(
    args: TuneConfig, study: optuna.Study, trial: optuna.Trial, out_dir: Path, fixed: dict[str, Any]
) -> Task:
    extra = [] if args.algo == "supervised" else ["--device", args.device]
    extra += list(args.passthrough)
    seeds = list(range(args.seeds_per_trial))
    kwargs = {
        "algo": args.algo,
        "env": args.env,
        "params": {**trial.params, **fixed},
        "seeds": seeds,
        "extra_argv": extra,
        "history": _history(study),
        "pruner": args.pruner,
    }
    return Task(f"t{trial.number}", "agents.tune_trial:run_trial", kwargs, str(out_dir))


def optimise(args: TuneConfig, study: optuna.Study, out: Path) -> None:
    """Ask/tell until ``--trials`` trials have finished (COMPLETE or PRUNED)."""
    space = load_space(args.space or SPACE_DIR / f"{args.algo}.yml")
    fixed = fixed_params(args)
    remaining = max(0, args.trials - _finished(study))
    print(f"study {args.study}: {_finished(study)} finished, {remaining} to run ({out})")
    inflight: dict[str, optuna.Trial] = {}
    with Engine(args.workers, args.address, device=args.device) as engine:
        while remaining or inflight:
            while remaining and len(inflight) < args.workers:
                trial = _ask(study, space)
                task = _task(args, study, trial, out / "trials" / f"t{trial.number:04d}", fixed)
                engine.submit(task)
                inflight[task.key] = trial
                remaining -= 1
            res = engine.next_done()
            trial = inflight.pop(res.key)
            state = tell(study, trial, res, args)
            if state == "FAIL":
                remaining += 1 if _failures(study) < args.trials else 0  # retry, but not forever
            print(
                f"trial {trial.number}: {state} value {study.trials[trial.number].value} "
                f"on node {res.node_id[:12]} in {res.wall_s:.0f}s"
            )


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


def _failures(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,)))


def check_args(args: Any) -> None:
    """Every user input checked before the study folder exists (one line each, exit 2)."""
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
    if args.space is not None:
        if not Path(args.space).is_file():
            raise ConfigError(f"--space {args.space}: no such file; give a search space YAML")
        load_space(Path(args.space))
    if args.storage is not None:
        check_storage(args.storage)
    check_address(args.address)
    check_device(args.device)  # a GPU nobody has: Ray waited for it forever
    if args.out is not None:  # rerunning into the same folder resumes the study
        check_output_dir(Path(args.out), "--out", allow_nonempty=True)


def check_storage(url: str) -> None:
    """A database URL SQLAlchemy can load a driver for (what Optuna's RDB storage needs)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError, ImportError) as err:
        raise ConfigError(
            f"--storage {url!r}: not a usable database URL ({err}); e.g. "
            "sqlite:///runs/study.db or postgresql://user@host/db"
        ) from None


def check_positive(name: str, value: int) -> None:
    """``value`` >= 1, else one line naming the flag."""
    if value < 1:
        flag = "--" + name.replace("_", "-")
        raise ConfigError(f"{flag} {value}: must be >= 1")


def main(argv: list[str] | None = None) -> Path:
    """Run (or resume) the study; write best.yml, the trials table and the plots."""
    # flags tune does not know go to every trial's training command (e.g. --max-train-samples)
    args = config_from_args(sys.argv[1:] if argv is None else list(argv))
    check_args(args)
    assert args.study is not None  # config_from_args defaults it to the algo
    out = args.out or default_runs_root() / market_dirname(args.env) / "tune" / args.study
    out.mkdir(parents=True, exist_ok=True)
    # the resolved settings of the latest (re)start, next to the study they drive
    atomic_write_yaml(out / "tune_config.yaml", json.loads(json.dumps(asdict(args), default=str)))
    storage = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=args.study,
        storage=storage,
        load_if_exists=True,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.sampler_seed),
        pruner=make_pruner(args.pruner),
    )
    stale = fail_stale(study)
    if stale:
        print(f"study {args.study}: {stale} trial(s) left running by a killed driver marked FAIL")
    optimise(args, study, out)
    write_outputs(study, out, fixed_params(args), rl=args.algo != "supervised")
    return out


if __name__ == "__main__":
    raise SystemExit(run_cli(main))
