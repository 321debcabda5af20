"""A study's outputs: ``best.yml`` (a ``--config`` file), ``trials.csv``/``trials.md`` and
Optuna's history and importance plots (plotly HTML)."""

from __future__ import annotations

import warnings
from pathlib import Path

import optuna
import yaml

from agents.experiments.tune_trial import nested


def write_best(study: optuna.Study, out: Path, rl: bool) -> Path | None:
    """``best.yml``: the best COMPLETE trial's values plus its budget; None if none."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return None
    best = study.best_trial
    params = {**best.params, **dict(best.user_attrs.get("budget") or {})}
    body = nested(params) if rl else params
    head = (
        f"# best of study {study.study_name}: trial {best.number}, val Sharpe {best.value:+.3f} "
        f"(mean over its seeds), {len(done)} complete trials.\n"
        + (
            "# use: python -m agents.<algo> --env <env> --config best.yml\n"
            if rl
            else "# supervised.train flags: --<name> <value> ('_' as '-')\n"
        )
    )
    path = out / "best.yml"
    path.write_text(head + yaml.safe_dump(body, sort_keys=True), encoding="utf-8")
    return path


def write_tables(study: optuna.Study, out: Path) -> None:
    """``trials.csv`` (Optuna's dataframe, user attrs included) and ``trials.md``."""
    df = study.trials_dataframe()
    df.to_csv(out / "trials.csv", index=False)
    names = sorted({k for t in study.trials for k in t.params})
    lines = [
        f"# study {study.study_name}: {len(study.trials)} trials",
        "",
        "| trial | state | val Sharpe | node | " + " | ".join(names) + " |",
        "|---:|---|---:|---|" + "---|" * len(names),
    ]
    for t in study.trials:
        value = "" if t.value is None else f"{t.value:+.3f}"
        node = str(t.user_attrs.get("node_id", ""))[:12]
        cells = [str(t.params.get(n, "")) for n in names]
        lines.append(
            f"| {t.number} | {t.state.name} | {value} | {node} | " + " | ".join(cells) + " |"
        )
    (out / "trials.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_plots(study: optuna.Study, out: Path) -> list[str]:
    """``history.html`` and ``importance.html``; returns notes on plots that could not be drawn
    (importance needs two complete trials with varied parameters)."""
    notes = []
    plots = {
        "history.html": optuna.visualization.plot_optimization_history,
        "importance.html": optuna.visualization.plot_param_importances,
    }
    for name, fn in plots.items():
        try:
            with warnings.catch_warnings(record=True) as said:  # "too few trials": a note
                warnings.simplefilter("always")
                fig = fn(study)
            # plotly.js inlined (about 4.6 MB a page): the pages open offline, no CDN
            fig.write_html(str(out / name), include_plotlyjs=True)
            notes += [f"{name}: {' '.join(str(w.message).split())}" for w in said[:1]]
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            notes.append(f"{name}: not drawn ({err})")
    return notes


def write_outputs(study: optuna.Study, out: Path, rl: bool) -> None:
    """Write best.yml, the trials tables and the plots of ``study`` into ``out``."""
    best = write_best(study, out, rl)
    write_tables(study, out)
    for note in write_plots(study, out):
        print(note)
    print(
        f"study folder {out}: best.yml {'written' if best else 'not written (no complete trial)'}"
    )
