"""Hostile inputs of the third abuse pass (issue 12): a fresh tester's inputs nobody wrote before.

Each case: (id, module, argv, fragment), run by tests/test_cli_abuse.py exactly like
``abuse_cases.CASES`` (exit 2, one ``error:`` line containing ``fragment``, no traceback,
nothing written). Placeholders beyond ``abuse_cases.fixtures``' come from ``fixtures3(tmp)``:
{fifo} (a named pipe), {loop} (a symlink loop), {y_<name>} (YAML files: empty, null,
dupkey, bomb, nan, inf, window, bigint, options_bad, options_list, threads), {garbage_pt},
{reg} (a registry root with damaged models m_json, m_list, m_escape, m_record, m_kind),
{trees_bad} / {metrics_list} (run folders with a garbled tree.json / a list metrics.json),
{empty_cfg_run} (a run folder whose config.yaml is empty), {under_file} (a path below a file),
{long} (a 300-character file name).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

BTC = ["--env", "btc1h"]
TUNE = ["--env", "btc1h", "--algo", "ppo", "--trials", "2"]
WF = ["--algo", "momentum", "--folds", "2"]
FETCH = ["fetch", "--exchange", "binance", "--timeframe", "1h", "--out", "{new}/sol.csv.gz"]
PRED = ["--model", "m_ok", "--root", "{reg}", "--candles", "{candles}"]
SEED_MSG = "a seed must be an integer from 0 to"


def _ppo(cid: str, extra: list[str], frag: str, mod: str = "agents.ppo") -> tuple:
    return (cid, mod, [*BTC, *extra, "--run-dir", "{new}"], frag)


def _cfg(cid: str, name: str, frag: str, mod: str = "agents.ppo") -> tuple:
    return _ppo(cid, ["--config", "{y_" + name + "}"], frag, mod)


CASES3: list[tuple[str, str, list[str], str]] = [
    # ---- agents.ppo / agents.sac: numbers, YAML configs, special files, output paths
    _ppo("ppo seed -1", ["--seed", "-1"], SEED_MSG),
    _ppo("ppo seed 10**23", ["--seed", "99999999999999999999999"], SEED_MSG),
    _ppo("ppo seeds repeated", ["--seeds", "0", "0"], "seed 0 is given twice"),
    _ppo("ppo seeds 10**20", ["--seeds", "0", "99999999999999999999"], "seeds must be >= 0 and"),
    _ppo("ppo workers > seeds", ["--seeds", "0", "1", "--workers", "1000"], "more than the 2"),
    _ppo("ppo address garbage", ["--seeds", "0", "1", "--address", "x"], "not a Ray cluster"),
    _cfg("ppo config empty file", "empty", "the file is empty"),
    _cfg("ppo config 'null'", "null", "the file is empty"),
    _cfg("ppo config duplicate key", "dupkey", "key 'seed' given twice"),
    _cfg("ppo config alias bomb", "bomb", "alias bomb"),
    _cfg("ppo config fee_bps .nan", "nan", "env.fee_bps must be a finite number"),
    _cfg("ppo config fee_bps .inf", "inf", "env.fee_bps must be a finite number"),
    _cfg("ppo config window -3", "window", "env.window must be from 1 to 4096"),
    _cfg("ppo config seed 10**26", "bigint", SEED_MSG),
    _cfg("ppo config unknown env option", "options_bad", "unknown env option(s) ['banana']"),
    _cfg("ppo config options a list", "options_list", "env.options must be a mapping"),
    _cfg("ppo config torch_threads 1e5", "threads", "train.torch_threads must be from 1"),
    _cfg("ppo config n_steps 0", "n_steps", "ppo.n_steps must be >= 1"),
    _cfg("ppo config n_epochs 0", "n_epochs", "ppo.n_epochs must be >= 1"),
    _cfg("ppo config gamma 1.5", "gamma", "ppo.gamma must be in (0, 1]"),
    _cfg("ppo config clip_range -1", "clip", "ppo.clip_range must be > 0"),
    _cfg("ppo config n_eval_episodes 0", "eval_episodes", "train.n_eval_episodes must be >= 1"),
    _cfg("ppo config dropout 2", "dropout", "policy.dropout must be in [0, 1)"),
    _cfg("ppo config net_arch a word", "net_arch", "policy.net_arch must be a list"),
    _cfg("ppo config unknown extractor kwarg", "extractor", "unknown TransformerConfig override"),
    _cfg("ppo config unknown feature set", "feature_set", "env.feature_set 'banana' is unknown"),
    _cfg("sac config ent_coef a word", "sac_ent", "sac.ent_coef must be auto", "agents.sac"),
    _cfg("sac config train_freq 0", "sac_train_freq", "sac.train_freq must be >= 1", "agents.sac"),
    _cfg("sac config tau 5", "sac_tau", "sac.tau must be in (0, 1]", "agents.sac"),
    _ppo("ppo config a FIFO", ["--config", "{fifo}"], "not a regular file"),
    _ppo("ppo config /dev/null", ["--config", "/dev/null"], "not a regular file"),
    _ppo("ppo config symlink loop", ["--config", "{loop}"], "broken or looping symlink"),
    ("ppo env a FIFO", "agents.ppo", ["--env", "{fifo}", "--run-dir", "{new}"], "not a regular"),
    ("ppo env symlink loop", "agents.ppo", ["--env", "{loop}", "--run-dir", "{new}"], "looping"),
    ("ppo run-dir symlink loop", "agents.ppo", [*BTC, "--run-dir", "{loop}"], "cannot be resolved"),
    ("ppo run-dir below a file", "agents.ppo", [*BTC, "--run-dir", "{under_file}"], "is a file"),
    ("ppo run-dir name too long", "agents.ppo", [*BTC, "--run-dir", "{long}"], "too long"),
    (
        "data clean out name too long",
        "envs.data",
        ["clean", "{candles}", "--out", "{long}.csv"],
        "too long",
    ),  # fmt: skip
    ("evaluate out name too long", "evaluate", ["--out", "{long}"], "too long"),
    ("registry root name too long", "agents.registry", ["--root", "{long}", "list"], "too long"),
    ("ppo resume empty config", "agents.ppo", ["--resume", "{empty_cfg_run}"], "names no algo"),
    _ppo("sac seed -1", ["--seed", "-1"], SEED_MSG, "agents.sac"),
    _cfg("sac config empty file", "empty", "the file is empty", "agents.sac"),
    # ---- agents.tune
    (
        "tune sampler-seed -1",
        "agents.tune",
        [*TUNE, "--sampler-seed", "-1", "--out", "{new}"],
        SEED_MSG,
    ),  # fmt: skip
    (
        "tune trials 1e10",
        "agents.tune",
        ["--env", "btc1h", "--algo", "ppo", "--trials", "10000000000", "--out", "{new}"],
        "must be from 1 to 10000",
    ),  # fmt: skip
    (
        "tune workers 1e5",
        "agents.tune",
        [*TUNE, "--workers", "100000", "--out", "{new}"],
        "must be from 1 to 4096",
    ),  # fmt: skip
    (
        "tune address garbage",
        "agents.tune",
        [*TUNE, "--address", "x", "--out", "{new}"],
        "not a Ray cluster address",
    ),  # fmt: skip
    (
        "tune space duplicate key",
        "agents.tune",
        [*TUNE, "--space", "{y_dupkey}", "--out", "{new}"],
        "given twice",
    ),  # fmt: skip
    (
        "tune space alias bomb",
        "agents.tune",
        [*TUNE, "--space", "{y_bomb}", "--out", "{new}"],
        "alias bomb",
    ),  # fmt: skip
    (
        "tune epochs with ppo",
        "agents.tune",
        [*TUNE, "--epochs", "3", "--out", "{new}"],
        "--epochs is for --algo supervised",
    ),  # fmt: skip
    (
        "tune timesteps with supervised",
        "agents.tune",
        [
            "--env",
            "btc1h",
            "--algo",
            "supervised",
            "--trials",
            "2",
            "--timesteps",
            "64",
            "--out",
            "{new}",
        ],
        "--timesteps is for --algo ppo/sac",
    ),  # fmt: skip
    (
        "tune space empty",
        "agents.tune",
        [*TUNE, "--space", "{y_empty}", "--out", "{new}"],
        "no parameters",
    ),  # fmt: skip
    (
        "tune space entry without high",
        "agents.tune",
        [*TUNE, "--space", "{y_space_nohigh}", "--out", "{new}"],
        "missing key 'high'",
    ),  # fmt: skip
    (
        "tune space entry a list",
        "agents.tune",
        [*TUNE, "--space", "{y_space_list}", "--out", "{new}"],
        "expected a mapping",
    ),  # fmt: skip
    (
        "tune space low above high",
        "agents.tune",
        [*TUNE, "--space", "{y_space_inverted}", "--out", "{new}"],
        "low <= high",
    ),  # fmt: skip
    # ---- agents.registry / predict / paper / retrain on damaged registries and run folders
    (
        "registry list with a damaged model",
        "agents.registry",
        ["--root", "{reg}", "list"],
        "m_escape/LATEST.json: damaged",
    ),  # fmt: skip
    (
        "registry show LATEST.json a list",
        "agents.registry",
        ["--root", "{reg}", "show", "m_list"],
        "expected a JSON object, got a list",
    ),  # fmt: skip
    (
        "registry show LATEST escapes",
        "agents.registry",
        ["--root", "{reg}", "show", "m_escape"],
        "is not vN",
    ),  # fmt: skip
    (
        "registry show damaged record",
        "agents.registry",
        ["--root", "{reg}", "show", "m_record"],
        "damaged version record",
    ),  # fmt: skip
    (
        "registry show unknown kind",
        "agents.registry",
        ["--root", "{reg}", "show", "m_kind"],
        "unknown model kind 'banana'",
    ),  # fmt: skip
    (
        "registry show ../x",
        "agents.registry",
        ["--root", "{reg}", "show", "../x"],
        "bad model name '../x'",
    ),  # fmt: skip
    (
        "registry rollback garbled LATEST",
        "agents.registry",
        ["--root", "{reg}", "rollback", "m_json"],
        "not valid JSON",
    ),  # fmt: skip
    (
        "registry promote garbage model.pt",
        "agents.registry",
        ["--root", "{new}", "promote", "{garbage_pt}", "--name", "m"],
        "not a readable supervised checkpoint",
    ),  # fmt: skip
    (
        "registry promote garbled tree.json",
        "agents.registry",
        ["--root", "{new}", "promote", "{trees_bad}", "--name", "m"],
        "tree.json: not valid JSON",
    ),  # fmt: skip
    (
        "registry promote metrics.json list",
        "agents.registry",
        ["--root", "{new}", "promote", "{metrics_list}", "--name", "m"],
        "metrics.json: expected a JSON object",
    ),  # fmt: skip
    (
        "registry promote name with space",
        "agents.registry",
        ["--root", "{new}", "promote", "{garbage_pt}", "--name", "my model"],
        "bad model name",
    ),  # fmt: skip
    (
        "predict model @v0",
        "agents.predict",
        ["--model", "m_kind@v0", "--candles", "{candles}", "--root", "{reg}"],
        "is not vN",
    ),  # fmt: skip
    (
        "predict model trailing @",
        "agents.predict",
        ["--model", "m_kind@", "--candles", "{candles}", "--root", "{reg}"],
        "is not vN",
    ),  # fmt: skip
    (
        "predict damaged record",
        "agents.predict",
        ["--model", "m_record", "--candles", "{candles}", "--root", "{reg}"],
        "damaged version",
    ),  # fmt: skip
    (
        "paper now garbage",
        "agents.paper",
        [
            "--model",
            "m_kind",
            "--candles",
            "{candles}",
            "--state",
            "{new}",
            "--root",
            "{reg}",
            "--now",
            "banana",
        ],
        "--now 'banana': not an ISO time",
    ),  # fmt: skip
    (
        "paper damaged record",
        "agents.paper",
        ["--model", "m_record", "--candles", "{candles}", "--state", "{new}", "--root", "{reg}"],
        "damaged version record",
    ),  # fmt: skip
    (
        "retrain garbled LATEST",
        "agents.retrain",
        ["--model", "m_json", "--root", "{reg}", "--work-dir", "{new}"],
        "not valid JSON",
    ),  # fmt: skip
    ("predict position 11", "agents.predict", [*PRED, "--position", "11"], "in [-10, 10]"),
    (
        "predict entry-price -1",
        "agents.predict",
        [*PRED, "--position", "1", "--entry-price", "-1"],
        "--entry-price -1.0",
    ),  # fmt: skip
    (
        "predict position without entry price",
        "agents.predict",
        [*PRED, "--position", "1"],
        "needs --entry-price",
    ),  # fmt: skip
    (
        "predict entry price while flat",
        "agents.predict",
        [*PRED, "--entry-price", "100"],
        "but --position is 0",
    ),  # fmt: skip
    (
        "predict --now with --replay",
        "agents.predict",
        [*PRED, "--replay", "--now", "2099-01-01"],
        "drop --now or --replay",
    ),  # fmt: skip
    (
        "predict symbol without slash",
        "agents.predict",
        ["--model", "m_ok", "--root", "{reg}", "--exchange", "binance", "--symbol", "BTCUSDT"],
        "not a ccxt unified symbol",
    ),  # fmt: skip
    (
        "retrain asof banana",
        "agents.retrain",
        ["--model", "m_ok", "--root", "{reg}", "--work-dir", "{new}", "--asof", "banana"],
        "--asof 'banana': not a date",
    ),  # fmt: skip
    (
        "retrain asof after the data",
        "agents.retrain",
        ["--model", "m_ok", "--root", "{reg}", "--work-dir", "{new}", "--asof", "2030-01-01"],
        "is after the data's last bar",
    ),  # fmt: skip
    (
        "retrain symbol without slash",
        "agents.retrain",
        [
            "--model",
            "m_ok",
            "--root",
            "{reg}",
            "--work-dir",
            "{new}",
            "--exchange",
            "binance",
            "--symbol",
            "BTCUSDT",
            "--candles-out",
            "{new}/c.csv.gz",
        ],
        "not a ccxt unified symbol",
    ),  # fmt: skip
    # ---- supervised.train / trees / compare
    (
        "supervised seed 2**32",
        "supervised.train",
        ["--seed", "4294967296", "--run-dir", "{new}"],
        SEED_MSG,
    ),  # fmt: skip
    (
        "supervised threads 1e5",
        "supervised.train",
        ["--threads", "100000", "--run-dir", "{new}"],
        "from 1 to 256",
    ),  # fmt: skip
    (
        "supervised window 1e5",
        "supervised.train",
        ["--window", "100000", "--run-dir", "{new}"],
        "from 1 to 4096 bars",
    ),  # fmt: skip
    (
        "supervised unknown label param",
        "supervised.train",
        ["--label-param", "banana=1", "--run-dir", "{new}"],
        "unknown params ['banana']",
    ),  # fmt: skip
    (
        "supervised loss param not of loss",
        "supervised.train",
        ["--loss-param", "gamma=2", "--run-dir", "{new}"],
        "do not apply to loss",
    ),  # fmt: skip
    (
        "supervised unknown model override",
        "supervised.train",
        ["--model-override", "banana=3", "--run-dir", "{new}"],
        "unknown TransformerConfig",
    ),  # fmt: skip
    (
        "supervised model override d_model -1",
        "supervised.train",
        ["--model-override", "d_model=-1", "--run-dir", "{new}"],
        "d_model=-1 must be >= 1",
    ),  # fmt: skip
    (
        "supervised unknown preset",
        "supervised.train",
        ["--preset", "banana", "--run-dir", "{new}"],
        "unknown transformer preset 'banana'",
    ),  # fmt: skip
    (
        "supervised config duplicate key",
        "supervised.train",
        ["--config", "{y_dupkey}", "--run-dir", "{new}"],
        "given twice",
    ),  # fmt: skip
    (
        "supervised env a FIFO",
        "supervised.train",
        ["--env", "{fifo}", "--run-dir", "{new}"],
        "not a regular file",
    ),  # fmt: skip
    (
        "supervised seeds repeated",
        "supervised.train",
        ["--seeds", "1", "1", "--run-dir", "{new}"],
        "given twice",
    ),  # fmt: skip
    (
        "trees fee-bps nan",
        "supervised.trees",
        ["--fee-bps", "nan", "--run-dir", "{new}"],
        "must be a finite number",
    ),  # fmt: skip
    (
        "trees calib-share nan",
        "supervised.trees",
        ["--calib-share", "nan", "--run-dir", "{new}"],
        "must be a finite number",
    ),  # fmt: skip
    (
        "trees n-jobs 1e5",
        "supervised.trees",
        ["--n-jobs", "100000", "--run-dir", "{new}"],
        "from 1 to 256",
    ),  # fmt: skip
    ("trees seed -1", "supervised.trees", ["--seed", "-1", "--run-dir", "{new}"], SEED_MSG),
    (
        "compare config empty",
        "supervised.compare",
        ["--config", "{y_empty}", "--run-dir", "{new}"],
        "the file is empty",
    ),  # fmt: skip
    # ---- evaluate
    ("evaluate fee-bps nan", "evaluate", ["--fee-bps", "nan", "--out", "{new}"], "finite number"),
    (
        "evaluate slippage-bps inf",
        "evaluate",
        ["--slippage-bps", "inf", "--out", "{new}"],
        "finite number",
    ),  # fmt: skip
    (
        "evaluate trials-sharpe-var nan",
        "evaluate",
        ["--trials-sharpe-var", "nan", "--out", "{new}"],
        "finite number",
    ),  # fmt: skip
    (
        "evaluate bootstrap-seed -1",
        "evaluate",
        ["--bootstrap-seed", "-1", "--out", "{new}"],
        SEED_MSG,
    ),  # fmt: skip
    ("evaluate seeds -1", "evaluate", ["--seeds", "-1", "--out", "{new}"], SEED_MSG),
    (
        "evaluate start banana",
        "evaluate",
        ["--start", "banana", "--out", "{new}"],
        "--start 'banana': not a date",
    ),  # fmt: skip
    (
        "evaluate start after the data",
        "evaluate",
        ["--start", "2030-01-01", "--out", "{new}"],
        "holds no bars",
    ),  # fmt: skip
    (
        "evaluate split with start",
        "evaluate",
        ["--split", "val", "--start", "2023-01-01", "--out", "{new}"],
        "exclude each other",
    ),  # fmt: skip
    (
        "evaluate garbage model.pt",
        "evaluate",
        ["{garbage_pt}", "--out", "{new}"],
        "not a readable supervised checkpoint",
    ),  # fmt: skip
    ("evaluate LABEL= without path", "evaluate", ["x=", "--out", "{new}"], "non-empty LABEL"),
    (
        "evaluate =PATH without label",
        "evaluate",
        ["={garbage_pt}", "--out", "{new}"],
        "non-empty LABEL",
    ),  # fmt: skip
    ("evaluate env a FIFO", "evaluate", ["--env", "{fifo}", "--out", "{new}"], "not a regular"),
    (
        "evaluate config duplicate key",
        "evaluate",
        ["--config", "{y_dupkey}", "--out", "{new}"],
        "given twice",
    ),  # fmt: skip
    (
        "evaluate a file too short for features",
        "evaluate",
        ["--env", "{candles}", "--split", "val", "--out", "{new}"],
        "too short for the features",
    ),  # fmt: skip
    (
        "ppo a file too short for features",
        "agents.ppo",
        ["--env", "{candles}", "--timesteps", "64", "--run-dir", "{new}"],
        "too short for the",
    ),  # fmt: skip
    (
        "supervised a file too short for features",
        "supervised.train",
        ["--env", "{candles}", "--run-dir", "{new}"],
        "too short for the features",
    ),  # fmt: skip
    (
        "supervised a class never labelled",
        "supervised.train",
        ["--env", "{short300}", "--epochs", "1", "--run-dir", "{new}"],
        "every class must occur",
    ),  # fmt: skip
    (
        "compare a class never labelled",
        "supervised.compare",
        ["--env", "{short300}", "--epochs", "1", "--run-dir", "{new}"],
        "every class must occur",
    ),  # fmt: skip
    (
        "evaluate block-length longer than the split",
        "evaluate",
        [
            "--env",
            "btc1d",
            "--split",
            "val",
            "--n-boot",
            "10",
            "--no-plots",
            "--block-length",
            "100000",
            "--out",
            "{new}",
        ],
        "is longer than the",
    ),  # fmt: skip
    # ---- evaluate.walkforward
    (
        "wf window 1e5",
        "evaluate.walkforward",
        [*WF, "--window", "100000", "--out", "{new}"],
        "must be from 1 to 4096",
    ),  # fmt: skip
    (
        "wf timesteps with momentum",
        "evaluate.walkforward",
        [*WF, "--timesteps", "5", "--out", "{new}"],
        "--timesteps is not read by --algo momentum",
    ),  # fmt: skip
    (
        "wf epochs with trees",
        "evaluate.walkforward",
        ["--algo", "trees", "--folds", "2", "--epochs", "3", "--out", "{new}"],
        "--epochs is not read by --algo trees",
    ),  # fmt: skip
    (
        "wf config with momentum",
        "evaluate.walkforward",
        [*WF, "--config", "{y_empty}", "--out", "{new}"],
        "--config is not read",
    ),  # fmt: skip
    (
        "wf address garbage",
        "evaluate.walkforward",
        [*WF, "--address", "x", "--out", "{new}"],
        "not a Ray cluster address",
    ),  # fmt: skip
    (
        "wf min-train banana",
        "evaluate.walkforward",
        [*WF, "--min-train", "banana", "--out", "{new}"],
        "--min-train 'banana': not a duration",
    ),  # fmt: skip
    ("wf seed -1", "evaluate.walkforward", [*WF, "--seed", "-1", "--out", "{new}"], SEED_MSG),
    (
        "wf fee-bps nan",
        "evaluate.walkforward",
        [*WF, "--fee-bps", "nan", "--out", "{new}"],
        "finite number",
    ),  # fmt: skip
    (
        "wf start after the data",
        "evaluate.walkforward",
        [*WF, "--start", "2030-01-01", "--end", "2031-01-01", "--out", "{new}"],
        "holds no bars",
    ),  # fmt: skip
    # ---- envs.data
    (
        "data clean a FIFO",
        "envs.data",
        ["clean", "{fifo}", "--out", "{new}/x.csv"],
        "not a regular file",
    ),  # fmt: skip
    (
        "data clean symlink loop",
        "envs.data",
        ["clean", "{loop}", "--out", "{new}/x.csv"],
        "broken or looping symlink",
    ),  # fmt: skip
    ("data report a FIFO", "envs.data", ["report", "{fifo}"], "not a regular file"),
    (
        "data clean out a FIFO",
        "envs.data",
        ["clean", "{candles}", "--out", "{fifo}"],
        "not a regular file",
    ),  # fmt: skip
    (
        "data clean out symlink loop",
        "envs.data",
        ["clean", "{candles}", "--out", "{loop}"],
        "cannot be resolved",
    ),  # fmt: skip
    (
        "data clean out below a file",
        "envs.data",
        ["clean", "{candles}", "--out", "{under_file}/x.csv"],
        "is a file, not a folder",
    ),  # fmt: skip
    (
        "fetch since banana",
        "envs.data",
        [*FETCH, "--symbol", "SOL/USDT", "--since", "banana"],
        "--since 'banana': not a date",
    ),  # fmt: skip
    (
        "fetch since -5",
        "envs.data",
        [*FETCH, "--symbol", "SOL/USDT", "--since", "-5"],
        "outside 2009-01-03 .. now",
    ),  # fmt: skip
    (
        "fetch since in the future",
        "envs.data",
        [*FETCH, "--symbol", "SOL/USDT", "--since", "2999-01-01"],
        "outside 2009-01-03 .. now",
    ),  # fmt: skip
    (
        "fetch until before since",
        "envs.data",
        [*FETCH, "--symbol", "SOL/USDT", "--since", "2022-01-01", "--until", "2021-01-01"],
        "is not after --since",
    ),  # fmt: skip
    (
        "fetch symbol without slash",
        "envs.data",
        [*FETCH, "--symbol", "SOLUSDT", "--since", "2022-01-01"],
        "not a ccxt unified symbol",
    ),  # fmt: skip
    (
        "fetch symbol a path",
        "envs.data",
        [*FETCH, "--symbol", "../x", "--since", "2022-01-01"],
        "not a ccxt unified symbol",
    ),  # fmt: skip
]

YAML = {
    "empty": "",
    "null": "null\n",
    "dupkey": "seed: 1\nseed: 2\n",
    "bomb": "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)
    ),  # fmt: skip
    "nan": "env:\n  fee_bps: .nan\n",
    "inf": "env:\n  fee_bps: .inf\n",
    "window": "env:\n  window: -3\n",
    "bigint": "seed: 99999999999999999999999999\n",
    "options_bad": "env:\n  options:\n    banana: 3\n",
    "options_list": "env:\n  options: [1]\n",
    "threads": "train:\n  torch_threads: 100000\n",
    "n_steps": "ppo:\n  n_steps: 0\n",
    "n_epochs": "ppo:\n  n_epochs: 0\n",
    "gamma": "ppo:\n  gamma: 1.5\n",
    "clip": "ppo:\n  clip_range: -1\n",
    "eval_episodes": "train:\n  n_eval_episodes: 0\n",
    "dropout": "policy:\n  dropout: 2\n",
    "net_arch": "policy:\n  net_arch: banana\n",
    "extractor": "policy:\n  extractor_kwargs: {banana: 1}\n",
    "feature_set": "env:\n  feature_set: banana\n",
    "sac_ent": "sac:\n  ent_coef: banana\n",
    "sac_train_freq": "sac:\n  train_freq: 0\n",
    "sac_tau": "sac:\n  tau: 5\n",
    "space_nohigh": "ppo.learning_rate: {type: float, low: 1.0e-5}\n",
    "space_list": "ppo.learning_rate: [1, 2]\n",
    "space_inverted": "ppo.learning_rate: {type: float, low: 1.0e-3, high: 1.0e-5}\n",
}


def _registry(root: Path) -> None:
    """Damaged models: garbled/list/escaping LATEST.json, a record missing keys, a bad kind."""
    good = {"name": "m_kind", "version": "v1", "kind": "banana", "market": "btc1h",
            "feature_set": "core17", "window": 32}  # fmt: skip
    models = {
        "m_json": ("{garbage", None),
        "m_list": ("[1]", None),
        "m_escape": ('{"version": "../../etc"}', None),
        "m_record": ('{"version": "v1"}', {"kind": "trees"}),
        "m_kind": ('{"version": "v1"}', good),
        "m_ok": ('{"version": "v1"}', {**good, "name": "m_ok", "kind": "trees"}),
    }
    for name, (latest, record) in models.items():
        (root / name).mkdir(parents=True)
        (root / name / "LATEST.json").write_text(latest)
        if record is not None:
            (root / name / "v1").mkdir()
            (root / name / "v1" / "registry.json").write_text(json.dumps(record))


def _short_candles(path: Path, n: int = 300) -> None:
    """300 valid hourly bars: enough to load, too few for every label class on train."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    close = 100 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))
    open_ = np.r_[100.0, close[:-1]]
    high, low = np.maximum(open_, close) * 1.002, np.minimum(open_, close) * 0.998
    stamps = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    rows = [f"{t:%Y-%m-%dT%H:%M:%SZ},{o:.4f},{h:.4f},{lo:.4f},{c:.4f},5"
            for t, o, h, lo, c in zip(stamps, open_, high, low, close, strict=True)]  # fmt: skip
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")


def fixtures3(tmp: Path) -> dict[str, str]:
    """Create this pass's placeholder paths under ``tmp``; returns placeholder -> path."""
    out = {}
    for name, text in YAML.items():
        (tmp / f"y_{name}.yaml").write_text(text)
        out[f"y_{name}"] = str(tmp / f"y_{name}.yaml")
    os.mkfifo(tmp / "pipe.csv")
    os.symlink(tmp / "loop_b.csv", tmp / "loop_a.csv")
    os.symlink(tmp / "loop_a.csv", tmp / "loop_b.csv")
    (tmp / "pt").mkdir()
    (tmp / "pt" / "model.pt").write_bytes(b"not a torch file")
    _registry(tmp / "reg")
    trees = tmp / "trees_bad"
    trees.mkdir()
    (trees / "tree.json").write_text("{bad")
    (trees / "model.skops").write_text("x")
    mlist = tmp / "metrics_list"
    mlist.mkdir()
    (mlist / "tree.json").write_text("{}")
    (mlist / "metrics.json").write_text("[1, 2]")
    ecfg = tmp / "empty_cfg_run"
    ecfg.mkdir()
    (ecfg / "config.yaml").write_text("")
    (tmp / "plain.txt").write_text("a file\n")
    _short_candles(tmp / "short300.csv")
    return {**out, "fifo": str(tmp / "pipe.csv"), "loop": str(tmp / "loop_a.csv"),
            "garbage_pt": str(tmp / "pt" / "model.pt"), "reg": str(tmp / "reg"),
            "trees_bad": str(trees), "metrics_list": str(mlist), "empty_cfg_run": str(ecfg),
            "under_file": str(tmp / "plain.txt" / "sub"), "long": str(tmp / ("x" * 300)),
            "short300": str(tmp / "short300.csv")}  # fmt: skip


def _no_cuda() -> bool:
    import torch

    return not torch.cuda.is_available()


if _no_cuda():  # on a GPU machine these inputs are valid
    CASES3 += [
        _ppo("ppo device cuda without a GPU", ["--device", "cuda"], "no such CUDA device"),
        (
            "tune device cuda without a GPU",
            "agents.tune",
            [*TUNE, "--device", "cuda", "--out", "{new}"],
            "no such CUDA device",
        ),  # fmt: skip
    ]
