"""Hostile inputs of this wave's surfaces (issue 24 "Nothing silently wrong"): ``python -m agents
recurrent_ppo | tqc | a2c``, ``evaluate.walkforward`` with the new methods, ``--cv cpcv`` and
``--train-span``, ``evaluate --stress``, ``agents.tune --objective walkforward``,
``bench/generalization.py --variants`` and ``evaluate.portfolio``. Run by
tests/test_cli_abuse.py: exit 2, one ``error:`` line holding the fragment, no traceback, nothing
written. Tampered trained run folders (checkpoints, LSTM / replay state, paper memory) are
tests/test_tampered_wave.py's.

Placeholders (``fixtures``): {w_<name>} YAML configs of ``CONFIGS``, {w_pytag} (a YAML with a
python tag that would run code), {w_binary} (random bytes), {w_gzbomb} (a gzip bomb),
{w_pickle} (a pickle of code), {w_empty} (an empty file), {w_v_<name>} variants files of
``VARIANTS``, {w_pf_<name>} portfolio run folders whose policy.json is ``POLICIES``' entry,
{w_rec_<name>} run folders whose config.yaml is ``SAVED``' entry.
"""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

from abuse_cases_portfolio import SPEC

REC = ["recurrent_ppo", "--env", "btc1h", "--run-dir", "{new}"]
TQC = ["tqc", "--env", "btc1h", "--run-dir", "{new}"]
A2C = ["a2c", "--env", "btc1h", "--run-dir", "{new}"]
WF = ["--out", "{new}"]
CPCV = ["--cv", "cpcv"]
TUNE = ["--env", "btc1h", "--trials", "2", "--out", "{new}"]
GEN = "bench.generalization"
PF = "evaluate.portfolio"

CONFIGS = {
    "rec_gamma_nan": "recurrent_ppo: {gamma: .nan}\n",
    "rec_lr_inf": "recurrent_ppo: {learning_rate: .inf}\n",
    "rec_lstm": "recurrent_ppo: {lstm_hidden_size: 128}\n",
    "rec_sac_section": "sac: {buffer_size: 1000}\n",
    "rec_batch_str": "recurrent_ppo: {batch_size: many}\n",
    "rec_n_steps_0": "recurrent_ppo: {n_steps: 0}\n",
    "cfg_list": "- recurrent_ppo\n- gamma\n",
    "tqc_drop_neg": "tqc: {top_quantiles_to_drop_per_net: -1}\n",
    "tqc_drop_all": "tqc: {top_quantiles_to_drop_per_net: 25}\n",
    "tqc_entropy": "tqc: {target_entropy: banana}\n",
    "tqc_buffer_0": "tqc: {buffer_size: 0}\n",
    "tqc_discrete": "env: {action: discrete}\n",
    "tqc_ppo_key": "tqc: {n_epochs: 4}\n",
    "tqc_starts_neg": "tqc: {learning_starts: -5}\n",
    "tqc_tau_nan": "tqc: {tau: .nan}\n",
    "a2c_n_steps_0": "a2c: {n_steps: 0}\n",
    "a2c_lambda_2": "a2c: {gae_lambda: 2}\n",
    "a2c_clip": "a2c: {clip_range: 0.2}\n",
    "a2c_norm_str": "a2c: {normalize_advantage: maybe}\n",
    "window_0": "env: {window: 0}\n",
}

CASES: list[tuple[str, str, list[str], str]] = [
    # ---- python -m agents recurrent_ppo
    ("rec timesteps negative", "agents", [*REC, "--timesteps", "-5"], 'train.total_timesteps must be >= 1, got -5'),
    ("rec n-envs 0", "agents", [*REC, "--n-envs", "0"], 'env.n_envs must be >= 1, got 0'),
    ("rec decision-interval nan", "agents", [*REC, "--decision-interval", "nan"], "decision_interval='nan' is not valid"),
    ("rec max-leverage -1", "agents", [*REC, "--max-leverage", "-1"], 'max_leverage=-1.0 is not valid: expected (0, 10]'),
    ("rec supervised flag", "agents", [*REC, "--epochs", "3"], 'unrecognized arguments: --epochs 3'),
    ("rec seeds repeated", "agents", [*REC, "--seeds", "1", "1"], '--seeds: seed 1 is given twice; give each seed once'),
    ("rec gamma nan", "agents", [*REC, "--config", "{w_rec_gamma_nan}"], 'recurrent_ppo.gamma must be a finite number, got nan'),
    ("rec lr inf", "agents", [*REC, "--config", "{w_rec_lr_inf}"], 'recurrent_ppo.learning_rate must be a finite number, got inf'),
    ("rec lstm size key", "agents", [*REC, "--config", "{w_rec_lstm}"], "unknown key 'lstm_hidden_size' in section 'recurrent_ppo'"),
    ("rec sac section", "agents", [*REC, "--config", "{w_rec_sac_section}"], "unknown key 'sac' at the top level"),
    ("rec batch string", "agents", [*REC, "--config", "{w_rec_batch_str}"], "recurrent_ppo.batch_size: 'many' is not a valid int"),
    ("rec n_steps 0", "agents", [*REC, "--config", "{w_rec_n_steps_0}"], 'recurrent_ppo.n_steps must be >= 1 step, got 0'),
    ("rec config a list", "agents", [*REC, "--config", "{w_cfg_list}"], 'expected a YAML mapping (key: value lines) at the top level, got a lis'),
    ("rec config python tag", "agents", [*REC, "--config", "{w_pytag}"], "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("rec config binary", "agents", [*REC, "--config", "{w_binary}"], "not valid YAML ('utf-8' codec can't decode byte 0x80"),
    ("rec config gzip bomb", "agents", [*REC, "--config", "{w_gzbomb}"], "not valid YAML ('utf-8' codec can't decode byte 0x8b"),
    ("rec config pickle", "agents", [*REC, "--config", "{w_pickle}"], "not valid YAML ('utf-8' codec can't decode byte 0x80 in position 0"),
    ("rec warm-start", "agents", [*REC, "--warm-start", "{w_pickle}"], '--warm-start is PPO only'),
    ("rec window 0", "agents", [*REC, "--config", "{w_window_0}"], 'env.window must be from 1 to 4096 bars, got 0'),
    # ---- python -m agents tqc
    ("tqc drop negative", "agents", [*TQC, "--config", "{w_tqc_drop_neg}"], 'tqc.top_quantiles_to_drop_per_net must be in [0, 25) (25 quantiles), g'),
    ("tqc drop every quantile", "agents", [*TQC, "--config", "{w_tqc_drop_all}"], 'tqc.top_quantiles_to_drop_per_net must be in [0, 25) (25 quantiles), g'),
    ("tqc target entropy word", "agents", [*TQC, "--config", "{w_tqc_entropy}"], "tqc.target_entropy must be auto or a number, got 'banana'"),
    ("tqc buffer 0", "agents", [*TQC, "--config", "{w_tqc_buffer_0}"], 'tqc.buffer_size must be >= 1 transition, got 0'),
    ("tqc discrete action", "agents", [*TQC, "--config", "{w_tqc_discrete}"], 'TQC needs env.action: continuous (SB3 TQC has no discrete head)'),
    ("tqc ppo key", "agents", [*TQC, "--config", "{w_tqc_ppo_key}"], "unknown key 'n_epochs' in section 'tqc'"),
    ("tqc learning_starts negative", "agents", [*TQC, "--config", "{w_tqc_starts_neg}"], 'tqc.learning_starts must be >= 0 steps, got -5'),
    ("tqc tau nan", "agents", [*TQC, "--config", "{w_tqc_tau_nan}"], 'tqc.tau must be a finite number, got nan'),
    ("tqc warm-start", "agents", [*TQC, "--warm-start", "{w_pickle}"], '--warm-start is PPO only'),
    ("tqc resume not a run", "agents", ["tqc", "--resume", "{w_empty}"], 'no config.yaml there, so it is not a run folder'),
    # ---- python -m agents a2c
    ("a2c n_steps 0", "agents", [*A2C, "--config", "{w_a2c_n_steps_0}"], 'a2c.n_steps must be >= 1 step, got 0'),
    ("a2c gae_lambda 2", "agents", [*A2C, "--config", "{w_a2c_lambda_2}"], 'a2c.gae_lambda must be in [0, 1], got 2.0'),
    ("a2c ppo clip_range", "agents", [*A2C, "--config", "{w_a2c_clip}"], "unknown key 'clip_range' in section 'a2c'"),
    ("a2c normalize maybe", "agents", [*A2C, "--config", "{w_a2c_norm_str}"], "a2c.normalize_advantage: 'maybe' is not a valid bool"),
    ("a2c warm-start", "agents", [*A2C, "--warm-start", "{w_pickle}"], '--warm-start is PPO only'),
    ("agents no algo", "agents", ["--env", "btc1h"], 'python -m agents: the first argument must be an algorithm (ppo, sac, a'),
    # ---- evaluate.walkforward: new methods, cpcv, train-span
    ("wf tqc epochs", "evaluate.walkforward", ["--methods", "tqc", "--folds", "2", "--epochs", "3", *WF], '--epochs is not read by --algo tqc (only by supervised); drop it'),
    ("wf rec max-train-samples", "evaluate.walkforward", ["--methods", "recurrent_ppo", "--folds", "2", "--max-train-samples", "9", *WF], '--max-train-samples is not read by --algo recurrent_ppo (only by super'),
    ("wf sac timesteps negative", "evaluate.walkforward", ["--methods", "sac", "--folds", "2", "--timesteps", "-1", *WF], '--timesteps -1: must be >= 1'),
    ("wf cpcv groups 0", "evaluate.walkforward", ["--methods", "tqc", *CPCV, "--groups", "0", *WF], '--groups 0: CPCV needs at least 2 groups'),
    ("wf cpcv groups nan", "evaluate.walkforward", ["--methods", "tqc", *CPCV, "--groups", "nan", *WF], "argument --groups: invalid int value: 'nan'"),
    ("wf cpcv test-groups 0", "evaluate.walkforward", ["--methods", "momentum", *CPCV, "--test-groups", "0", *WF], '--test-groups 0: must be at least 1 and below --groups 6'),
    ("wf cpcv groups huge", "evaluate.walkforward", ["--methods", "momentum", *CPCV, "--groups", "100000", *WF], '61243 bars cannot be cut into 100000 groups: use fewer groups'),
    ("wf test-groups without cpcv", "evaluate.walkforward", ["--methods", "momentum", "--folds", "2", "--test-groups", "2", *WF], '--test-groups is read by --cv cpcv only; drop it or add --cv cpcv'),
    ("wf train-span negative", "evaluate.walkforward", ["--methods", "momentum", "--folds", "2", "--train-span=-30d", *WF], "--train-span '-30d': not a duration; write a positive number of days,"),
    ("wf train-span nan", "evaluate.walkforward", ["--methods", "momentum", "--folds", "2", "--train-span", "nan", *WF], "--train-span 'nan': not a duration; write a positive number of days, w"),
    ("wf train-span 0d", "evaluate.walkforward", ["--methods", "momentum", "--folds", "2", "--train-span", "0d", *WF], "--train-span '0d': not a duration; write a positive number of days, we"),
    ("wf train-span cpcv", "evaluate.walkforward", ["--methods", "momentum", *CPCV, "--train-span", "365d", *WF], '--train-span is read by --cv walkforward only; drop it for --cv cpcv'),
    ("wf cpcv test-bars", "evaluate.walkforward", ["--methods", "momentum", *CPCV, "--test-bars", "500", *WF], '--test-bars is read by --cv walkforward only; drop it for --cv cpcv'),
    ("wf cpcv min-train", "evaluate.walkforward", ["--methods", "momentum", *CPCV, "--min-train", "365d", *WF], '--min-train is read by --cv walkforward only; drop it for --cv cpcv'),
    ("wf config python tag", "evaluate.walkforward", ["--methods", "tqc", "--folds", "2", "--config", "{w_pytag}", *WF], "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("wf config pickle", "evaluate.walkforward", ["--methods", "recurrent_ppo", "--folds", "2", "--config", "{w_pickle}", *WF], "not valid YAML ('utf-8' codec can't decode byte 0x80 in position 0"),
    ("wf config nan gamma", "evaluate.walkforward", ["--methods", "recurrent_ppo", "--folds", "2", "--config", "{w_rec_gamma_nan}", *WF], 'recurrent_ppo.gamma must be a finite number, got nan'),
    ("wf config tqc discrete", "evaluate.walkforward", ["--methods", "tqc", "--folds", "2", "--config", "{w_tqc_discrete}", *WF], 'TQC needs env.action: continuous (SB3 TQC has no discrete head)'),
    ("wf window 0", "evaluate.walkforward", ["--methods", "tqc", "--folds", "2", "--window", "0", *WF], '--window 0: must be >= 1'),
    ("wf n-configs 0", "evaluate.walkforward", ["--methods", "momentum", "--folds", "2", "--n-configs", "0", *WF], '--n-configs 0 (from the command line) must be >= 1'),
    ("wf feature set bogus", "evaluate.walkforward", ["--methods", "sac", "--folds", "2", "--feature-set", "bogus", *WF], "--feature-set 'bogus': unknown; valid: core17, daily, daily30, flagtra"),
    # ---- agents.tune --objective walkforward / --cv cpcv
    ("tune wf folds 0", "agents.tune", [*TUNE, "--algo", "tqc", "--objective", "walkforward", "--folds", "0"], '--folds 0 (from the command line) must be from 1 to 100 (or unset)'),
    ("tune val with folds", "agents.tune", [*TUNE, "--algo", "a2c", "--folds", "3"], '--folds is read by --objective walkforward only; add --objective walkf'),
    ("tune wf cpcv with folds", "agents.tune", [*TUNE, "--algo", "ppo", "--objective", "walkforward", "--cv", "cpcv", "--folds", "3"], '--cv cpcv needs --groups N --test-groups k and no --folds'),
    ("tune cpcv without wf", "agents.tune", [*TUNE, "--algo", "ppo", "--cv", "cpcv"], '--cv is read by --objective walkforward only; add --objective walkforw'),
    ("tune cpcv groups 1", "agents.tune", [*TUNE, "--algo", "ppo", "--objective", "walkforward", "--cv", "cpcv", "--groups", "1"], '--groups 1 (from the command line) must be from 2 to 64 (or unset)'),
    ("tune objective-stat with val", "agents.tune", [*TUNE, "--algo", "ppo", "--objective-stat", "lower-quartile"], '--objective-stat is read by --objective walkforward only; add --object'),
    ("tune trials 0", "agents.tune", ["--env", "btc1h", "--trials", "0", "--algo", "tqc", "--out", "{new}"], '--trials 0 (from the command line) must be from 1 to 10000'),
    ("tune space python tag", "agents.tune", [*TUNE, "--algo", "recurrent_ppo", "--space", "{w_pytag}"], "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("tune space pickle", "agents.tune", [*TUNE, "--algo", "recurrent_ppo", "--space", "{w_pickle}"], "not valid YAML ('utf-8' codec can't decode byte 0x80 in position 0"),
    ("tune space empty", "agents.tune", [*TUNE, "--algo", "tqc", "--space", "{w_empty}"], 'no parameters; write NAME: {type: float, low: L, high: H} lines'),
    ("tune val-bars with val", "agents.tune", [*TUNE, "--algo", "ppo", "--val-bars", "100"], '--val-bars is read by --objective walkforward only; add --objective wa'),
    ("tune cpcv min-train-bars", "agents.tune", [*TUNE, "--algo", "tqc", "--objective", "walkforward", "--cv", "cpcv", "--groups", "4", "--test-groups", "1", "--min-train-bars", "100"], '--min-train-bars is read by --cv walkforward only; drop it for --cv cp'),
    ("tune rec epochs", "agents.tune", [*TUNE, "--algo", "recurrent_ppo", "--epochs", "3"], '--epochs is for --algo supervised, not recurrent_ppo; drop it'),
    ("tune wf val-bars 0", "agents.tune", [*TUNE, "--algo", "ppo", "--objective", "walkforward", "--folds", "2", "--val-bars", "0"], '--val-bars 0 (from the command line) must be >= 1'),
    # ---- bench/generalization.py --variants
    ("gen variants missing", GEN, ["--variants", "{w_missing}", "--out", "{new}"], 'missing.yml not found'),
    ("gen variants binary", GEN, ["--variants", "{w_binary}", "--out", "{new}"], "not valid YAML ('utf-8' codec can't decode byte 0x80"),
    ("gen variants python tag", GEN, ["--variants", "{w_pytag}", "--out", "{new}"], "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("gen variants pickle", GEN, ["--variants", "{w_pickle}", "--out", "{new}"], "not valid YAML ('utf-8' codec can't decode byte 0x80 in position 0"),
    ("gen variants empty", GEN, ["--variants", "{w_empty}", "--out", "{new}"], 'the file is empty (no settings); write the settings or drop the flag'),
    ("gen variants a list", GEN, ["--variants", "{w_v_list}", "--out", "{new}"], 'expected a YAML mapping (key: value lines) at the top level, got a lis'),
    ("gen variant an int", GEN, ["--variants", "{w_v_int}", "--out", "{new}"], 'variant fast: expected a mapping {config, args, method, note}, got int'),
    ("gen variant config a list", GEN, ["--variants", "{w_v_config_list}", "--out", "{new}"], 'variant fast: config must be a mapping of sections and args a list of'),
    ("gen variant method banana", GEN, ["--variants", "{w_v_banana}", "--out", "{new}"], "variant fast on btc1h: argument --methods: invalid choice: 'banana' (c"),
    ("gen variant config unknown key", GEN, ["--variants", "{w_v_unknown}", "--out", "{new}"], "variant fast on btc1h: unknown key 'windw' in section 'env' of its con"),
    ("gen variant args bad flag", GEN, ["--variants", "{w_v_badarg}", "--out", "{new}"], 'variant fast on btc1h: unrecognized arguments: --bogus 3'),
    ("gen variant config gamma nan", GEN, ["--variants", "{w_v_nan}", "--out", "{new}"], 'variant fast on btc1h: ppo.gamma must be a finite number, got nan'),
    ("gen folds 0", GEN, ["--variants", "{w_v_ok}", "--folds", "0", "--out", "{new}"], '--folds 0: must be >= 1'),
    ("gen seeds negative", GEN, ["--variants", "{w_v_ok}", "--seeds", "-1", "--out", "{new}"], '--seeds -1 (from the command line): a seed must be an integer from 0 t'),
    ("gen timesteps negative", GEN, ["--variants", "{w_v_ok}", "--timesteps", "-5", "--out", "{new}"], '--timesteps -5: must be >= 1'),
    ("gen env unknown", GEN, ["--variants", "{w_v_ok}", "--envs", "banana", "--out", "{new}"], "unknown --env 'banana'; valid presets: btc1d, btc1h, btc4h, eth1d, eth"),
    ("gen only unknown", GEN, ["--variants", "{w_v_ok}", "--only", "nope", "--out", "{new}"], '--only nope: not in'),
    # ---- evaluate.portfolio
    ("pf fee nan", PF, ["--env", "btc1h,eth1h", "--fee-bps", "nan"], '--fee-bps nan: must be in [0, 10000] bps'),
    ("pf fee inf", PF, ["--env", "btc1h,eth1h", "--fee-bps", "inf"], '--fee-bps inf: must be in [0, 10000] bps'),
    ("pf unknown member", PF, ["--env", "btc1h,banana"], "universe member 'banana': unknown market 'banana'"),
    ("pf ppo unknown member", "agents.ppo", ["--env", "btc1h,banana", "--run-dir", "{new}"], "universe member 'banana': unknown market 'banana'"),
    ("pf run not portfolio", PF, ["--run", "{w_run_ok}"], 'no policy.json: not a portfolio run (train one with python -m agents.p'),
    ("pf policy window -1", PF, ["--run", "{w_pf_window_neg}"], 'window=-1 is missing or invalid; it is written by python -m agents.ppo'),
    ("pf policy gross nan", PF, ["--run", "{w_pf_gross_nan}"], 'gross_cap=nan is missing or invalid; it is written by python -m agents'),
    ("pf policy a list", PF, ["--run", "{w_pf_list}"], 'expected a JSON object; it is written by python -m agents.ppo --env A,'),
    ("pf policy members string", PF, ["--run", "{w_pf_members_str}"], "members='btc1h' is missing or invalid; it is written by python -m agen"),
    ("pf policy band 5", PF, ["--run", "{w_pf_band}"], 'rebalance_band=5 is missing or invalid; it is written by python -m age'),
    ("pf policy d_model 0", PF, ["--run", "{w_pf_dmodel}"], "net={'d_model': 0, 'mixer': 'mean'} is missing or invalid; it is writt"),
    # ---- resume / evaluate of run folders whose config.yaml was edited
    ("rec resume window 0", "agents", ["recurrent_ppo", "--resume", "{w_run_window0}"], 'rec_window0/config.yaml: env.window must be from 1 to 4096 bars, got 0'),
    ("rec resume unknown algo", "agents", ["recurrent_ppo", "--resume", "{w_run_algo}"], "config.yaml names no algorithm (algo: 'banana'), so it is not a finish"),
    ("rec resume other algo", "agents", ["recurrent_ppo", "--resume", "{w_run_tqc}"], "that run is 'tqc', not 'recurrent_ppo'; use python -m agents tqc"),
    ("rec resume gamma nan", "agents", ["recurrent_ppo", "--resume", "{w_run_gamma}"], 'rec_gamma/config.yaml: recurrent_ppo.gamma must be a finite number, got nan'),
    ("rec resume config list", "agents", ["recurrent_ppo", "--resume", "{w_run_list}"], 'expected a YAML mapping; the run folder is damaged'),
    ("rec resume config tag", "agents", ["recurrent_ppo", "--resume", "{w_run_tag}"], "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("rec resume truncated checkpoint", "agents", ["recurrent_ppo", "--resume", "{w_run_ok}"], 'model_64_steps.zip: not a readable model zip'),
    ("stress truncated best model", "evaluate", ["--split", "val", "--stress", "--no-plots", "{w_run_ok}"], 'best_model.zip: not a readable model zip'),
    ("stress rec window 0", "evaluate", ["--split", "val", "--stress", "--no-plots", "{w_run_window0}"], 'rec_window0/config.yaml: env.window must be from 1 to 4096 bars, got 0'),
    ("stress rec unknown algo", "evaluate", ["--split", "val", "--stress", "--no-plots", "{w_run_algo}"], "algo 'banana' is not one of ppo, sac, a2c, tqc, recurrent_ppo"),
]  # fmt: skip

VARIANTS = {
    "list": "- fast\n- slow\n",
    "int": "fast: 3\n",
    "config_list": "fast:\n  config: [1, 2]\n",
    "banana": "fast:\n  method: banana\n",
    "unknown": "fast:\n  config: {env: {windw: 8}}\n",
    "badarg": "fast:\n  args: [--bogus, '3']\n",
    "nan": "fast:\n  config: {ppo: {gamma: .nan}}\n",
    "ok": "fast:\n  method: momentum\n",
}
POLICIES = {
    "window_neg": {**SPEC, "window": -1},
    "gross_nan": {**SPEC, "gross_cap": float("nan")},
    "list": [SPEC],
    "members_str": {**SPEC, "members": "btc1h"},
    "band": {**SPEC, "rebalance_band": 5},
    "dmodel": {**SPEC, "net": {"d_model": 0, "mixer": "mean"}},
}
SAVED = {
    "ok": "algo: recurrent_ppo\nenv_name: btc1h\nseed: 0\nenv: {window: 16}\n",
    "window0": "algo: recurrent_ppo\nenv_name: btc1h\nseed: 0\nenv: {window: 0}\n",
    "algo": "algo: banana\nenv_name: btc1h\nseed: 0\n",
    "tqc": "algo: tqc\nenv_name: btc1h\nseed: 0\n",
    "gamma": "algo: recurrent_ppo\nenv_name: btc1h\nseed: 0\nrecurrent_ppo: {gamma: .nan}\n",
    "list": "- algo\n- recurrent_ppo\n",
    "tag": "algo: !!python/object/apply:os.system ['true']\nenv_name: btc1h\n",
}


class _Code:
    """A pickle that would run code if unpickled."""

    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def fixtures(tmp: Path) -> dict[str, str]:
    """The hostile files and folders of the module doc."""
    w = tmp / "wave"
    w.mkdir()
    out = {"w_missing": str(w / "missing.yml")}
    for name, text in CONFIGS.items():
        (w / f"{name}.yml").write_text(text)
        out[f"w_{name}"] = str(w / f"{name}.yml")
    for name, text in VARIANTS.items():
        (w / f"v_{name}.yml").write_text(text)
        out[f"w_v_{name}"] = str(w / f"v_{name}.yml")
    files = {
        "pytag": b"env: !!python/object/apply:os.system ['touch PWNED']\n",
        "binary": bytes(range(256)) * 8,
        "gzbomb": gzip.compress(b"\0" * 20_000_000),
        "pickle": pickle.dumps({"env": _Code()}),
        "empty": b"",
    }
    for name, data in files.items():
        (w / f"{name}.yml").write_bytes(data)
        out[f"w_{name}"] = str(w / f"{name}.yml")
    for name, spec in POLICIES.items():
        (w / f"pf_{name}").mkdir()
        (w / f"pf_{name}" / "policy.json").write_text(json.dumps(spec))
        out[f"w_pf_{name}"] = str(w / f"pf_{name}")
    for name, text in SAVED.items():
        run = w / f"rec_{name}"
        (run / "checkpoints").mkdir(parents=True)
        (run / "config.yaml").write_text(text)
        (run / "checkpoints" / "model_64_steps.zip").write_bytes(b"PK\x03\x04 truncated")
        latest = {"num_timesteps": 64, "model": "model_64_steps.zip", "state": None}
        (run / "checkpoints" / "latest.json").write_text(json.dumps(latest))
        (run / "best_model.zip").write_bytes(b"PK\x03\x04 truncated")
        out[f"w_run_{name}"] = str(run)
    return out
