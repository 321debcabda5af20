"""Hostile inputs for every CLI (issue 12 item 7), shared by tests/test_cli_abuse.py.

Each case: (id, module, argv, fragment): ``python -m module *argv`` must exit 2 with one line on
stderr naming the problem (containing ``fragment``), no traceback, nothing written. ``argv`` may
hold placeholders filled by ``fixtures(tmp)``: {missing} (a path that does not exist), {file}
(an existing plain file), {dir} (an empty folder), {full} (a non-empty folder), {garbled}
(a run folder whose config.yaml is not YAML), {noconf} (a run folder without config.yaml),
{nometrics} (a run folder with config.yaml but no metrics.json / model), {badmetrics} (a run
folder whose metrics.json is not JSON), {emptygroup} (an empty group.json), {candles} (a good
candle CSV), {new} (a fresh path inside tmp).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from abuse_cases3 import CASES3, fixtures3

# Later passes each keep their cases in tests/abuse_cases_<topic>.py with ``CASES`` and,
# optionally, ``fixtures(tmp) -> dict``; they are found by name so that adding a pass is one file.
_PASSES = [
    importlib.import_module(f.stem)
    for f in sorted(Path(__file__).resolve().parent.glob("abuse_cases_*.py"))
]

CASES: list[tuple[str, str, list[str], str]] = [
    (
        "ppo timesteps 0",
        "agents.ppo",
        ["--env", "btc1h", "--timesteps", "0", "--run-dir", "{new}"],
        "total_timesteps",
    ),
    (
        "ppo timesteps -5",
        "agents.ppo",
        ["--env", "btc1h", "--timesteps", "-5", "--run-dir", "{new}"],
        "total_timesteps",
    ),
    (
        "ppo n-envs 0",
        "agents.ppo",
        ["--env", "btc1h", "--n-envs", "0", "--run-dir", "{new}"],
        "n_envs",
    ),
    ("ppo run-dir non-empty", "agents.ppo", ["--env", "btc1h", "--run-dir", "{full}"], "not empty"),
    ("ppo run-dir is a file", "agents.ppo", ["--env", "btc1h", "--run-dir", "{file}"], "is a file"),
    (
        "ppo run-dir inside data/",
        "agents.ppo",
        ["--env", "btc1h", "--run-dir", "data/run_x"],
        "data/",
    ),
    (
        "ppo config missing",
        "agents.ppo",
        ["--env", "btc1h", "--config", "{missing}", "--run-dir", "{new}"],
        "missing",
    ),
    (
        "ppo config is a folder",
        "agents.ppo",
        ["--env", "btc1h", "--config", "{dir}", "--run-dir", "{new}"],
        "is a folder",
    ),
    ("ppo resume missing", "agents.ppo", ["--resume", "{missing}"], "missing"),
    ("ppo resume is a file", "agents.ppo", ["--resume", "{file}"], "--resume"),
    ("ppo resume garbled config", "agents.ppo", ["--resume", "{garbled}"], "config.yaml"),
    ("ppo resume no config", "agents.ppo", ["--resume", "{noconf}"], "config.yaml"),
    (
        "ppo warm-start missing",
        "agents.ppo",
        ["--env", "btc1h", "--warm-start", "{missing}", "--run-dir", "{new}"],
        "missing",
    ),
    (
        "ppo unknown device",
        "agents.ppo",
        ["--env", "btc1h", "--device", "tpu", "--run-dir", "{new}"],
        "--device",
    ),
    (
        "sac timesteps 0",
        "agents.sac",
        ["--env", "btc1h", "--timesteps", "0", "--run-dir", "{new}"],
        "total_timesteps",
    ),
    ("sac run-dir non-empty", "agents.sac", ["--env", "btc1h", "--run-dir", "{full}"], "not empty"),
    (
        "sac config garbled",
        "agents.sac",
        ["--env", "btc1h", "--config", "{garbled}/config.yaml", "--run-dir", "{new}"],
        "config.yaml",
    ),
    ("sac resume missing", "agents.sac", ["--resume", "{missing}"], "missing"),
    (
        "tune trials 0",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "0", "--out", "{new}"],
        "--trials",
    ),
    (
        "tune trials -3",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "-3", "--out", "{new}"],
        "--trials",
    ),
    (
        "tune workers 0",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--workers", "0", "--out", "{new}"],
        "--workers",
    ),
    (
        "tune seeds-per-trial 0",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--seeds-per-trial",
            "0",
            "--out",
            "{new}",
        ],
        "--seeds-per-trial",
    ),
    (
        "tune timesteps 0",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--timesteps", "0", "--out", "{new}"],
        "--timesteps",
    ),
    (
        "tune evals-per-trial 0",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--evals-per-trial",
            "0",
            "--out",
            "{new}",
        ],
        "--evals-per-trial",
    ),
    (
        "tune unknown env",
        "agents.tune",
        ["--env", "nope", "--algo", "ppo", "--trials", "2", "--out", "{new}"],
        "--env",
    ),
    (
        "tune space missing",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--space",
            "{missing}",
            "--out",
            "{new}",
        ],
        "missing",
    ),
    (
        "tune space garbled",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--space",
            "{garbled}/config.yaml",
            "--out",
            "{new}",
        ],
        "not valid YAML",
    ),
    (
        "tune space is a folder",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--space", "{dir}", "--out", "{new}"],
        "--space",
    ),
    (
        "tune out is a file",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--out", "{file}"],
        "is a file",
    ),
    (
        "tune out inside data/",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--out", "data/tune_x"],
        "data/",
    ),
    (
        "registry promote missing run",
        "agents.registry",
        ["--root", "{new}", "promote", "{missing}", "--name", "m"],
        "missing",
    ),
    (
        "registry promote garbled run",
        "agents.registry",
        ["--root", "{new}", "promote", "{garbled}", "--name", "m"],
        "not a tree run",
    ),
    (
        "registry promote run w/o model",
        "agents.registry",
        ["--root", "{new}", "promote", "{nometrics}", "--name", "m"],
        "nometrics",
    ),
    (
        "registry promote bad name",
        "agents.registry",
        ["--root", "{new}", "promote", "{nometrics}", "--name", "../x"],
        "name",
    ),
    ("registry show unknown", "agents.registry", ["--root", "{dir}", "show", "nope"], "nope"),
    (
        "registry rollback unknown",
        "agents.registry",
        ["--root", "{dir}", "rollback", "nope"],
        "nope",
    ),
    ("registry root is a file", "agents.registry", ["--root", "{file}", "list"], "--root"),
    (
        "predict unknown model",
        "agents.predict",
        ["--model", "nope", "--candles", "{candles}", "--root", "{dir}"],
        "nope",
    ),
    (
        "predict bad version",
        "agents.predict",
        ["--model", "m@vX", "--candles", "{candles}", "--root", "{dir}"],
        "m@vX",
    ),
    (
        "predict bad now",
        "agents.predict",
        ["--model", "nope", "--candles", "{candles}", "--now", "yesterday", "--root", "{dir}"],
        "--now",
    ),
    (
        "paper unknown model",
        "agents.paper",
        ["--model", "nope", "--candles", "{candles}", "--state", "{new}", "--root", "{dir}"],
        "nope",
    ),
    ("supervised run-dir non-empty", "supervised.train", ["--run-dir", "{full}"], "not empty"),
    ("supervised run-dir is a file", "supervised.train", ["--run-dir", "{file}"], "is a file"),
    ("supervised run-dir inside data/", "supervised.train", ["--run-dir", "data/run_x"], "data/"),
    (
        "supervised max-train-samples 0",
        "supervised.train",
        ["--max-train-samples", "0", "--run-dir", "{new}"],
        "--max-train-samples",
    ),
    (
        "supervised max-val-bars -1",
        "supervised.train",
        ["--max-val-bars", "-1", "--run-dir", "{new}"],
        "--max-val-bars",
    ),
    (
        "supervised threads 0",
        "supervised.train",
        ["--threads", "0", "--run-dir", "{new}"],
        "--threads",
    ),
    (
        "supervised config missing",
        "supervised.train",
        ["--config", "{missing}", "--run-dir", "{new}"],
        "missing",
    ),
    (
        "supervised config garbled",
        "supervised.train",
        ["--config", "{garbled}/config.yaml", "--run-dir", "{new}"],
        "config.yaml",
    ),
    ("compare epochs 0", "supervised.compare", ["--epochs", "0", "--run-dir", "{new}"], "--epochs"),
    ("compare unknown env", "supervised.compare", ["--env", "nope", "--run-dir", "{new}"], "--env"),
    (
        "compare unknown scheme",
        "supervised.compare",
        ["--schemes", "banana", "--run-dir", "{new}"],
        "banana",
    ),
    ("compare run-dir non-empty", "supervised.compare", ["--run-dir", "{full}"], "not empty"),
    (
        "compare max-val-bars 0",
        "supervised.compare",
        ["--max-val-bars", "0", "--run-dir", "{new}"],
        "--max-val-bars",
    ),
    ("trees unknown env", "supervised.trees", ["--env", "nope", "--run-dir", "{new}"], "nope"),
    (
        "trees n-estimators 0",
        "supervised.trees",
        ["--n-estimators", "0", "--run-dir", "{new}"],
        "--n-estimators",
    ),
    ("trees n-folds 1", "supervised.trees", ["--n-folds", "1", "--run-dir", "{new}"], "--n-folds"),
    (
        "trees calib-share 2",
        "supervised.trees",
        ["--calib-share", "2", "--run-dir", "{new}"],
        "--calib-share",
    ),
    ("trees horizon 0", "supervised.trees", ["--horizon", "0", "--run-dir", "{new}"], "--horizon"),
    ("trees n-jobs 0", "supervised.trees", ["--n-jobs", "0", "--run-dir", "{new}"], "--n-jobs"),
    (
        "trees feature-set unknown",
        "supervised.trees",
        ["--feature-set", "banana", "--run-dir", "{new}"],
        "banana",
    ),
    (
        "trees fee-bps -1",
        "supervised.trees",
        ["--fee-bps", "-1", "--run-dir", "{new}"],
        "--fee-bps",
    ),
    ("trees run-dir non-empty", "supervised.trees", ["--run-dir", "{full}"], "not empty"),
    ("trees run-dir inside data/", "supervised.trees", ["--run-dir", "data/run_x"], "data/"),
    ("evaluate run missing", "evaluate", ["{missing}", "--out", "{new}"], "missing"),
    ("evaluate run garbled config", "evaluate", ["{garbled}", "--out", "{new}"], "best_model.zip"),
    ("evaluate run without config", "evaluate", ["{noconf}", "--out", "{new}"], "best_model.zip"),
    ("evaluate run without model", "evaluate", ["{nometrics}", "--out", "{new}"], "nometrics"),
    ("evaluate empty group.json", "evaluate", ["ppo={emptygroup}", "--out", "{new}"], "group.json"),
    ("evaluate a plain file as run", "evaluate", ["{file}", "--out", "{new}"], "file"),
    ("evaluate out non-empty", "evaluate", ["--out", "{full}"], "not empty"),
    ("evaluate out is a file", "evaluate", ["--out", "{file}"], "is a file"),
    ("evaluate out inside data/", "evaluate", ["--out", "data/eval_x"], "data/"),
    ("evaluate unknown split", "evaluate", ["--split", "tset", "--out", "{new}"], "tset"),
    ("evaluate n-boot 0", "evaluate", ["--n-boot", "0", "--out", "{new}"], "--n-boot"),
    ("evaluate n-trials 0", "evaluate", ["--n-trials", "0", "--out", "{new}"], "--n-trials"),
    (
        "evaluate trials-sharpe-var -1",
        "evaluate",
        ["--trials-sharpe-var", "-1", "--out", "{new}"],
        "--trials-sharpe-var",
    ),
    ("evaluate fee-bps -5", "evaluate", ["--fee-bps", "-5", "--out", "{new}"], "--fee-bps"),
    (
        "evaluate block-length 0",
        "evaluate",
        ["--block-length", "0", "--out", "{new}"],
        "--block-length",
    ),
    (
        "evaluate ensemble of none",
        "evaluate",
        ["--ensemble", "voting", "--out", "{new}"],
        "ensemble",
    ),
    (
        "wf folds 0",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "0", "--out", "{new}"],
        "--folds 0",
    ),
    (
        "wf folds huge",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "100000", "--out", "{new}"],
        "no room for 100000",
    ),
    (
        "wf start after end",
        "evaluate.walkforward",
        [
            "--algo",
            "momentum",
            "--folds",
            "2",
            "--start",
            "2023-01-01",
            "--end",
            "2021-01-01",
            "--out",
            "{new}",
        ],
        "--start",
    ),
    (
        "wf bad start date",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--start", "banana", "--out", "{new}"],
        "banana",
    ),
    (
        "wf val-bars 0",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--val-bars", "0", "--out", "{new}"],
        "--val-bars",
    ),
    (
        "wf test-bars -1",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--test-bars", "-1", "--out", "{new}"],
        "--test-bars",
    ),
    (
        "wf purge-bars -1",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--purge-bars", "-1", "--out", "{new}"],
        "--purge-bars",
    ),
    (
        "wf workers 0",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--workers", "0", "--out", "{new}"],
        "--workers",
    ),
    (
        "wf n-configs 0",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--n-configs", "0", "--out", "{new}"],
        "--n-configs",
    ),
    (
        "wf window 0",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--window", "0", "--out", "{new}"],
        "--window",
    ),
    (
        "wf out non-empty",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--out", "{full}"],
        "not empty",
    ),
    (
        "wf out is a file",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--out", "{file}"],
        "is a file",
    ),
    (
        "wf out inside data/",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--out", "data/wf_x"],
        "data/",
    ),
    (
        "wf config missing",
        "evaluate.walkforward",
        ["--algo", "ppo", "--folds", "2", "--config", "{missing}", "--out", "{new}"],
        "missing",
    ),
    (
        "wf unknown feature set",
        "evaluate.walkforward",
        ["--algo", "momentum", "--folds", "2", "--feature-set", "banana", "--out", "{new}"],
        "banana",
    ),
    # pretraining and --pretrained (supervised.pretrain, agents.transfer.pretrained_backbone)
    (
        "pretrain unknown market",
        "supervised.pretrain",
        ["--markets", "nope", "--run-dir", "{new}"],
        "--markets",
    ),
    (
        "pretrain horizon 0",
        "supervised.pretrain",
        ["--horizons", "0", "--run-dir", "{new}"],
        "--horizons",
    ),
    (
        "pretrain market twice",
        "supervised.pretrain",
        ["--markets", "btc1h", "btc1h", "--run-dir", "{new}"],
        "twice",
    ),
    ("pretrain run-dir non-empty", "supervised.pretrain", ["--run-dir", "{full}"], "not empty"),
    (
        "ppo pretrained missing",
        "agents.ppo",
        ["--env", "btc1h", "--pretrained", "{missing}", "--run-dir", "{new}"],
        "no such file",
    ),
    (
        "ppo pretrained garbage",
        "agents.ppo",
        ["--env", "btc1h", "--pretrained", "{file}", "--run-dir", "{new}"],
        "not a loadable",
    ),
    (
        "sac pretrained garbage",
        "agents.sac",
        ["--env", "btc1h", "--pretrained", "{file}", "--run-dir", "{new}"],
        "not a loadable",
    ),
]


def fixtures(tmp: Path) -> dict[str, str]:
    """Create the placeholder paths under ``tmp``; returns placeholder -> path."""
    (tmp / "dir").mkdir()
    (tmp / "full").mkdir()
    (tmp / "full" / "keep.txt").write_text("results\n")
    (tmp / "file.txt").write_text("not a folder\n")
    garbled = tmp / "garbled"
    garbled.mkdir()
    (garbled / "config.yaml").write_text("env: [unclosed\n  : : :\n\t- tab\n")
    (garbled / "metrics.json").write_text("{}")
    (tmp / "noconf").mkdir()
    (tmp / "noconf" / "metrics.json").write_text("{}")
    nometrics = tmp / "nometrics"
    nometrics.mkdir()
    (nometrics / "config.yaml").write_text("env_name: btc1h\nseed: 0\n")
    group = tmp / "emptygroup"
    group.mkdir()
    (group / "group.json").write_text("")
    candles = tmp / "candles.csv"
    rows = ["timestamp,open,high,low,close,volume"]
    rows += [f"2024-01-01T{h:02d}:00:00Z,100,101,99,100.5,10" for h in range(24)]
    candles.write_text("\n".join(rows) + "\n")
    later: dict[str, str] = {}
    for mod in _PASSES:
        if hasattr(mod, "fixtures"):
            later.update(mod.fixtures(tmp))
    return {
        **later,
        **fixtures3(tmp),  # the third pass's placeholders (tests/abuse_cases3.py)
        "missing": str(tmp / "missing_thing"),
        "file": str(tmp / "file.txt"),
        "dir": str(tmp / "dir"),
        "full": str(tmp / "full"),
        "garbled": str(garbled),
        "noconf": str(tmp / "noconf"),
        "nometrics": str(nometrics),
        "emptygroup": str(group),
        "candles": str(candles),
        "new": str(tmp / "new_out"),
    }


CASES += [
    (
        "ppo seeds negative",
        "agents.ppo",
        ["--env", "btc1h", "--seeds", "-1", "2", "--run-dir", "{new}"],
        "--seeds -1",
    ),
    (
        "ppo seeds workers 0",
        "agents.ppo",
        ["--env", "btc1h", "--seeds", "0", "1", "--workers", "0", "--run-dir", "{new}"],
        "--workers 0",
    ),
    (
        "sac seeds run-dir is a file",
        "agents.sac",
        ["--env", "btc1h", "--seeds", "0", "1", "--run-dir", "{file}"],
        "is a file",
    ),
    (
        "supervised seeds negative",
        "supervised.train",
        ["--seeds", "0", "-2", "--run-dir", "{new}"],
        "--seeds -2",
    ),
]

CASES += [
    (
        "ppo timesteps huge",
        "agents.ppo",
        ["--env", "btc1h", "--timesteps", "1000000000000000000000", "--run-dir", "{new}"],
        "total_timesteps must be <=",
    ),
    (
        "ppo n-envs huge",
        "agents.ppo",
        ["--env", "btc1h", "--n-envs", "100000", "--run-dir", "{new}"],
        "n_envs must be <= 1024",
    ),
    (
        "sac n-envs huge",
        "agents.sac",
        ["--env", "btc1h", "--n-envs", "100000", "--run-dir", "{new}"],
        "n_envs must be <= 1024",
    ),
]

CASES += [
    (
        "tune bad storage url",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--storage",
            "banana://x",
            "--out",
            "{new}",
        ],
        "--storage 'banana://x'",
    ),
    (
        "tune storage not a url",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "ppo",
            "--trials",
            "2",
            "--storage",
            "just words",
            "--out",
            "{new}",
        ],
        "--storage",
    ),
]

CASES += CASES3  # the third abuse pass (tests/abuse_cases3.py)
for _mod in _PASSES:
    CASES += _mod.CASES
