"""A seed group promoted as one ensemble model, and loaded back for ``agents.predict``/``paper``.

    python -m agents.registry promote GROUP --name NAME --ensemble voting [--allow-failed-members]

``GROUP`` is the folder ``python -m agents.ppo --env E --seeds 0 1 2`` writes (``lab.seeds``:
``group.json``, ``summary.json`` and one run folder per seed). Every seed becomes a member of
the version: ``vN/members/s<seed>/`` holds what promoting that run alone would copy (its model,
``normaliser.json``, config, provenance, metrics; the numpy actor of a discrete PPO). Each
member passes the single-run checks (``agents.serving.run_checks.promotion_problems``); a failed,
missing or collapsed seed refuses the whole group, naming the seed, unless
``--allow-failed-members`` (then ``registry.json`` lists it under ``left_out``). The members
must share observation layout and decision interval: ``backtest.ensemble.build_ensemble`` checks
that, and its message is the refusal (one line). Nothing is written before every check passed.

``registry.json`` has kind ``ensemble``, the rule, one row per member (seed, folder, its own
val Sharpe), their mean, and ``ensemble_val``: the ensemble's own val backtest
(``backtest.runner.run_policy``, as ``evaluate --ensemble`` runs it; seconds). The rule is the
user's choice on val (``evaluate --ensemble`` on the val split compares the rules; promoting
under each rule and reading ``ensemble_val`` does too), never on test.

Serving loads each member as its single-run version would load (``load_fast`` / ``load_run``:
the safe loaders, nothing unpickled) and combines them with ``backtest.ensemble`` (the very
policy ``evaluate --ensemble`` backtests). Members with memory (recurrent PPO) are refused at
promotion: their states would have to travel in a paper account's state.
"""

from __future__ import annotations

import os
import shutil
import statistics
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from agents.acting.fast_policy import export_numpy, load_fast
from agents.serving.registry_checks import RegistryError, check_model_name, read_json
from agents.serving.registry_versions import latest_record, point_latest, versions
from agents.serving.run_checks import COMMON_FILES, RunInfo, describe_run, promotion_problems
from backtest.baselines import PolicySpec
from backtest.ensemble import EnsemblePolicy, build_ensemble, member_positions
from backtest.policy import is_stateful
from backtest.runner import run_policy
from lab.atomic import atomic_write_json
from lab.rundir import utc_now

MEMBERS_DIR = "members"  # vN/members/s<seed>/: one run folder per seed


@dataclass
class Member:
    """One seed of the group: its run folder, what the registry read, why it is left out."""

    seed: int
    run_dir: Path
    info: RunInfo | None = None
    val_sharpe: float | None = None
    problem: str | None = None  # failed / collapsed / not promotable (None: a good member)


@dataclass
class ServedEnsemble:
    """The ensemble as a stateless policy (its members are stateless: checked at promotion), so
    predict and paper step it as any single model; ``proposals`` gives each member's position."""

    inner: EnsemblePolicy

    def bind(self, market: Any, action_space: Any) -> None:
        """Bind every member in its own action space (``EnsemblePolicy.bind``)."""
        self.inner.bind(market, action_space)

    def act(self, obs_batch: np.ndarray, bars: np.ndarray) -> np.ndarray:
        """The rule's combined action (stateless members: ``act`` equals ``act_state``)."""
        return self.inner.act(obs_batch, bars)

    def proposals(self, obs_batch: np.ndarray, bars: np.ndarray) -> dict[str, float]:
        """Each member's proposed position (-1, 0, +1) on the first row of the batch."""
        e = self.inner
        return {
            name: float(member_positions(m.act(obs_batch, bars), s, e.long_only)[0])
            for name, m, s in zip(e.names, e.members, e.member_spaces, strict=True)
        }


def read_members(group_dir: Path, market: str | None) -> list[Member]:
    """Every seed of the group's ``group.json``, each with its problem (None: good)."""
    group = read_json(group_dir / "group.json")
    if group.get("kind") != "seed_group" or not isinstance(group.get("seeds"), list):
        raise RegistryError(
            f"{group_dir}: not a seed-group folder (no group.json of kind seed_group); "
            "--ensemble promotes the folder python -m agents.ppo --seeds ... wrote"
        )
    per_seed = read_json(group_dir / "summary.json").get("per_seed") or {}
    runs = group.get("runs") or {}
    out = []
    for seed in group["seeds"]:
        row = per_seed.get(str(seed)) or {}
        m = Member(int(seed), group_dir / str(runs.get(str(seed), f"s{seed}")))
        m.val_sharpe = row.get("val_sharpe")
        if row.get("status") == "failed":
            m.problem = f"failed ({row.get('error', 'no complete metrics.json')})"
        elif row.get("collapsed"):
            m.problem = f"collapsed ({row.get('collapse') or 'always flat'})"
        else:
            m.problem = _member_problem(m, market)
        out.append(m)
    return out


def _member_problem(m: Member, market: str | None) -> str | None:
    """Why seed ``m`` cannot serve (missing folder or model, a single-run refusal), or None."""
    if not m.run_dir.is_dir():
        return f"missing (no run folder {m.run_dir.name})"
    try:
        m.info = describe_run(m.run_dir)
    except RegistryError as err:
        return f"no model ({' '.join(str(err).split())})"
    problems = promotion_problems(m.info, market, None)
    return "; ".join(problems) if problems else None


def check_group(members: list[Member], allow_failed: bool, group_dir: Path) -> list[Member]:
    """The good members; a bad one refuses the group (naming its seed) unless ``allow_failed``."""
    bad = [m for m in members if m.problem]
    if bad and not allow_failed:
        named = "; ".join(f"seed {m.seed} {m.problem}" for m in bad)
        raise RegistryError(
            f"refused to promote ensemble {group_dir}: {named}; retrain the seed, or pass "
            "--allow-failed-members to promote the other seeds (the record lists it)"
        )
    good = [m for m in members if not m.problem]
    if len(good) < 2:
        raise RegistryError(
            f"refused to promote ensemble {group_dir}: {len(good)} usable seed(s); an ensemble "
            "needs at least 2"
        )
    return good


def load_member(run_dir: Path, seed: int) -> PolicySpec:
    """A member as its single-run version loads: the numpy/torch actor of a discrete PPO, else
    ``load_run`` (both safe: SB3 zips are read without unpickling)."""
    spec = load_fast(run_dir)
    if spec is None:
        from agents.acting.loading import load_run  # torch + SB3 (seconds): off the numpy path

        spec = load_run(run_dir)
    return replace(spec, name=f"s{seed}")


def combine(specs: list[PolicySpec], rule: str, name: str) -> PolicySpec:
    """``backtest.ensemble.build_ensemble`` over loaded members, served stateless; a layout
    mismatch or a stateful member is a RegistryError (one line)."""
    for s in specs:
        if is_stateful(s.policy):
            raise RegistryError(
                f"member {s.name} has memory (a recurrent policy); an ensemble is served from "
                "stateless members only"
            )
    try:
        spec = build_ensemble(rule, specs, name=name)
    except (ValueError, TypeError) as err:
        raise RegistryError(" ".join(str(err).split())) from None
    assert isinstance(spec.policy, EnsemblePolicy)
    costs = specs[0].trained_costs  # members of one group share the env's costs
    return replace(spec, policy=ServedEnsemble(spec.policy), trained_costs=costs)


def _record(name: str, version: str, rule: str, group_dir: Path, good: list[Member],
            bad: list[Member], market: str | None) -> dict[str, Any]:  # fmt: skip
    first = good[0].info
    assert first is not None
    sharpes = [float(m.val_sharpe) for m in good if m.val_sharpe is not None]
    return {
        "name": name, "version": version, "kind": "ensemble", "rule": rule,
        "source": str(group_dir.resolve()), "env": first.env, "market": market or first.env,
        "feature_set": first.feature_set, "window": first.window, **first.layout,
        "members": [{"seed": m.seed, "dir": f"{MEMBERS_DIR}/s{m.seed}",
                     "val_sharpe": m.val_sharpe} for m in good],
        "left_out": [{"seed": m.seed, "reason": m.problem} for m in bad],
        "members_val_sharpe_mean": statistics.fmean(sharpes) if sharpes else None,
        "rule_chosen_on": "val",
        "data_sha256": first.meta.get("data_sha256"), "git": first.meta.get("git"),
        "promoted_at_utc": utc_now().strftime("%Y-%m-%dT%H:%M:%SZ"),
    }  # fmt: skip


def ensemble_val(spec: PolicySpec, env: str) -> dict[str, Any]:
    """The ensemble's own backtest on the val split (``backtest.runner.run_policy``, as
    ``evaluate --ensemble`` runs it, with the members' trained costs): seconds for a few numpy
    members, and what the rule is chosen by. Never the test split."""
    s = run_policy(spec, env, "val", env_settings=spec.trained_costs).summary()
    keys = ("sharpe", "total_return", "max_drawdown", "time_in_market", "turnover_annual")
    return {"split": "val", **{k: s.get(k) for k in keys}}


def _copy_member(m: Member, dest: Path) -> None:
    assert m.info is not None
    dest.mkdir(parents=True)
    for f in [*m.info.model_files, *(m.run_dir / n for n in COMMON_FILES)]:
        if f.is_file():
            shutil.copy2(f, dest / f.name)
    if m.info.kind == "sb3":  # the torch-free actor, as a single-run promotion exports
        export_numpy(dest)


def promote_group(group: str | os.PathLike[str], name: str, rule: str, root: Path,
                  market: str | None = None, allow_failed: bool = False) -> Path:  # fmt: skip
    """Check every seed of ``group``, build the ensemble once (the layout check), then copy
    the members into ``root/name/vN`` (atomic rename) and move LATEST; return the version."""
    check_model_name(name)
    group_dir = Path(group)
    if not group_dir.is_dir():
        raise RegistryError(f"{group_dir}: no such seed-group folder")
    members = read_members(group_dir, market)
    good = check_group(members, allow_failed, group_dir)
    latest = latest_record(root, name)
    if latest:  # the layout registered under NAME binds an ensemble as it binds a run
        assert good[0].info is not None
        problems = promotion_problems(good[0].info, market, latest)
        if problems:
            raise RegistryError(f"refused to promote ensemble {group_dir}: " + "; ".join(problems))
    try:
        ensemble = combine([load_member(m.run_dir, m.seed) for m in good], rule, name)
    except ValueError as err:  # agents.acting.safe_load.ModelLoadError: a damaged member
        raise RegistryError(" ".join(str(err).split())) from None
    assert good[0].info is not None and good[0].info.env is not None
    val = ensemble_val(ensemble, good[0].info.env)
    model_dir = root / name
    version = f"v{(versions(model_dir) or [0])[-1] + 1}"
    tmp = model_dir / f".{version}.tmp{os.getpid()}"
    tmp.mkdir(parents=True)
    try:
        for m in good:
            _copy_member(m, tmp / MEMBERS_DIR / f"s{m.seed}")
        for f in ("group.json", "summary.json"):
            if (group_dir / f).is_file():
                shutil.copy2(group_dir / f, tmp / f)
        bad = [m for m in members if m.problem]
        atomic_write_json(tmp / "registry.json",
                          {**_record(name, version, rule, group_dir, good, bad, market),
                           "ensemble_val": val})  # fmt: skip
        os.rename(tmp, model_dir / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    point_latest(model_dir, version)
    return model_dir / version


def load_ensemble(vdir: Path, record: dict[str, Any]) -> PolicySpec:
    """The ensemble of a registered version: every member loaded safely, combined by its rule."""
    rows = record.get("members")
    if not isinstance(rows, list) or not rows or record.get("rule") is None:
        raise RegistryError(
            f"{vdir / 'registry.json'}: damaged ensemble record (members, rule); re-promote the "
            "seed group or roll back"
        )
    specs: list[PolicySpec] = []
    for row in rows:
        d = vdir / str(row.get("dir"))
        if not d.resolve().is_relative_to(vdir.resolve()) or not d.is_dir():
            raise RegistryError(f"{vdir}: member folder {row.get('dir')!r} is missing; re-promote")
        specs.append(load_member(d, int(row.get("seed", len(specs)))))
    return combine(specs, str(record["rule"]), f"{record['name']}@{record['version']}")
