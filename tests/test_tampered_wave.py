"""Tampered run folders of this wave's algorithms (issue 24 "Nothing silently wrong"): a
recurrent PPO run's checkpoint (LSTM state, last observation, env accounts, model zip, edited
config.yaml, data hashes), a TQC run's replay buffer and a recurrent paper account's memory.

Each tamper is refused through the real CLI (``runpy``, ``lab.cli.run_cli``): exit 2, one
``error:`` line matching the expected message, no traceback, and the run folder (or the paper
state) left exactly as it was. Before this pass a NaN LSTM state, observation or env account
crashed mid-rollout with a traceback after writing ``resumes.txt``; a NaN replay buffer trained
until the loss diverged, actions outside [-1, 1] trained silently; and a paper memory that was
a string, null or had no version silently restarted at zero.
"""

from __future__ import annotations

import gzip
import json
import re
import runpy
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from agents.__main__ import main as train
from agents.serving.model_registry import promote
from envs import kernel as K
from envs.data import load_candles

pytestmark = pytest.mark.slow  # two tiny training runs (~40 s each on 2 cores) serve every test
REPO = Path(__file__).resolve().parent.parent
TINY_REC = {"train": {"eval_freq": 10**6, "checkpoint_freq": 64}}
TINY_TQC = {
    "env": {"n_envs": 2, "episode_length": 64, "no_trade_band": 0.0},
    "tqc": {"learning_starts": 64, "batch_size": 32, "buffer_size": 2000},
    "train": {"eval_freq": 10**6, "checkpoint_freq": 96},
}


def _train(tmp: Path, algo: str, tiny: dict, extra: list[str]) -> Path:
    cfg = tmp / "tiny.yml"
    cfg.write_text(yaml.safe_dump(tiny))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLTRADE_NO_LEDGER", "1")
        return train([algo, "--env", "btc1h", *extra, "--seed", "1", "--config", str(cfg),
                      "--run-dir", str(tmp / "run"), "--no-progress"])  # fmt: skip


@pytest.fixture(scope="module")
def rec_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("rec")
    return _train(tmp, "recurrent_ppo", TINY_REC, ["--timesteps", "256", "--n-envs", "2"])


@pytest.fixture(scope="module")
def tqc_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tmp_path_factory.mktemp("tqc"), "tqc", TINY_TQC, ["--timesteps", "192"])


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*")}


def _refused(module: str, argv: list[str], watch: Path, pattern: str, monkeypatch, capsys) -> None:  # noqa: ANN001
    """``python -m module *argv``: exit 2, one error line matching ``pattern``, ``watch``
    unchanged, no traceback."""
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("RLTRADE_NO_LEDGER", "1")
    monkeypatch.setattr(sys, "argv", [module, *argv])
    before = _tree(watch)
    with warnings.catch_warnings(), pytest.raises(SystemExit) as exc:
        warnings.simplefilter("ignore")
        runpy.run_module(module, run_name="__main__", alter_sys=False)
    err = capsys.readouterr().err
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
    assert exc.value.code == 2, err[-2000:]
    assert "Traceback" not in err and len(lines) == 1, err[-2000:]
    assert re.search(pattern, lines[0]), lines[0]
    assert _tree(watch) == before


def _copy(run: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(run, tmp / "run"))


def _edit_npz(path: Path, edit: Callable[[dict[str, np.ndarray]], None]) -> None:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    np.savez(path, **arrays)


class _Code:
    def __reduce__(self) -> tuple:
        return (print, ("this must never run",))


def _nan(key: str) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(a: dict[str, np.ndarray]) -> None:
        a[key] = np.full(a[key].shape, np.nan, a[key].dtype)

    return edit


def _set(key: str, value: np.ndarray) -> Callable[[dict[str, np.ndarray]], None]:
    def edit(a: dict[str, np.ndarray]) -> None:
        a[key] = value

    return edit


def _bar(a: dict[str, np.ndarray]) -> None:
    acc = a["env_accounts"].copy()
    acc[:, K.S_T] = 1e9
    a["env_accounts"] = acc


def _bar_outside_split(a: dict[str, np.ndarray]) -> None:
    """Bar 0: inside the market the env loaded, before its split's first decision bar (the
    observation window's warm-up)."""
    acc = a["env_accounts"].copy()
    acc[:, K.S_T] = 0
    a["env_accounts"] = acc


STATE_TAMPERS = {
    "lstm nan": (_nan("lstm_pi_h"), r"unusable resume state \(lstm_pi_h holds NaN or inf values"),
    "lstm shape": (_set("lstm_pi_h", np.zeros((1, 3, 64), np.float32)),
                   r"lstm_pi_h has shape \(1, 3, 64\), the model's is \(1, 2, 64\)"),
    "lstm pickle": (_set("lstm_pi_c", np.array([_Code()], dtype=object)),
                    r"unusable resume state \(Object arrays cannot be loaded when allow_pickle=False"),
    "lstm missing": (lambda a: a.pop("lstm_vf_c"), r"unusable resume state \('lstm_vf_c'\)"),
    "obs nan": (_nan("last_obs"), r"last_obs holds NaN or inf values"),
    "obs shape": (_set("last_obs", np.zeros((2, 5), np.float32)),
                  r"last_obs has shape \(2, 5\), the model's is \(2, 964\)"),
    "accounts nan": (_nan("env_accounts"), r"env state holds NaN values or a bar outside"),
    "accounts bar": (_bar, r"env state holds NaN values or a bar outside the market"),
    "accounts split": (_bar_outside_split, r"env state holds bar \d+, not a decision bar of "
                       r"this env's split \(bars \d+\.\.\d+\)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(STATE_TAMPERS))
def test_a_tampered_recurrent_resume_state_is_refused(case, rec_run, tmp_path, monkeypatch, capsys):  # noqa: ANN001
    run = _copy(rec_run, tmp_path)
    edit, pattern = STATE_TAMPERS[case]
    _edit_npz(run / "checkpoints" / "state_256_steps.npz", edit)
    argv = ["recurrent_ppo", "--resume", str(run), "--timesteps", "320", "--no-progress"]
    _refused("agents", argv, run, pattern, monkeypatch, capsys)


def _gzip_bomb(run: Path) -> None:
    (run / "checkpoints" / "state_256_steps.npz").write_bytes(gzip.compress(b"\0" * 20_000_000))


def _truncate_zip(run: Path) -> None:
    p = run / "checkpoints" / "model_256_steps.zip"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _edit_config(key: str, value: object) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        section, name = key.split(".")
        cfg[section][name] = value
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))

    return edit


def _data_hash(run: Path) -> None:
    meta = json.loads((run / "meta.json").read_text())
    files = meta["market"]["files"] if "files" in meta.get("market", {}) else meta["data_sha256"]
    files[next(iter(files))] = "0" * 64  # as if the data file had changed since the start
    (run / "meta.json").write_text(json.dumps(meta))


FOLDER_TAMPERS = {
    "state gzip bomb": (_gzip_bomb, r"state_256_steps.npz: unusable resume state \(This file "
                        r"contains pickled"),
    "checkpoint truncated": (_truncate_zip, r"model_256_steps.zip: not a readable model zip"),
    "config window 0": (_edit_config("env.window", 0),
                        r"config.yaml: env.window must be from 1 to 4096 bars, got 0 \(the saved"),
    "config gamma nan": (_edit_config("recurrent_ppo.gamma", float("nan")),
                         r"config.yaml: recurrent_ppo.gamma must be a finite number, got nan"),
    "config lstm key": (_edit_config("recurrent_ppo.lstm_hidden_size", 128),
                        r"unknown key 'lstm_hidden_size' in section 'recurrent_ppo'"),
    "data changed": (_data_hash, r"changed since the run started"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FOLDER_TAMPERS))
def test_a_tampered_recurrent_run_folder_is_refused(case, rec_run, tmp_path, monkeypatch, capsys):  # noqa: ANN001
    run = _copy(rec_run, tmp_path)
    edit, pattern = FOLDER_TAMPERS[case]
    edit(run)
    argv = ["recurrent_ppo", "--resume", str(run), "--timesteps", "320", "--no-progress"]
    _refused("agents", argv, run, pattern, monkeypatch, capsys)


def _action(a: dict[str, np.ndarray]) -> None:
    act = a["actions"].copy()
    act[3, 0] = 1e6
    a["actions"] = act


def _done(a: dict[str, np.ndarray]) -> None:
    d = a["dones"].copy()
    d[3, 0] = 7
    a["dones"] = d


REPLAY_TAMPERS = {
    "observations nan": (_nan("observations"), r"replay array 'observations' holds NaN or inf"),
    "rewards nan": (_nan("rewards"), r"replay array 'rewards' holds NaN or inf values"),
    "actions out of range": (_action, r"replay array 'actions' holds values outside \[-1, 1\]"),
    "dones 7": (_done, r"replay array 'dones' holds values other than 0 and 1"),
    "observations shape": (lambda a: a.update(observations=a["observations"][:, :, :10]),
                           r"replay array 'observations' is float32\[96, 2, 10\], the model's"),
    "rewards pickle": (_set("rewards", np.array([_Code()], dtype=object)),
                       r"Object arrays cannot be loaded when allow_pickle=False"),
    "pos negative": (_set("pos", np.asarray(-5)), r"replay buffer of 1000 rows \(pos -5\)"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REPLAY_TAMPERS))
def test_a_tampered_tqc_replay_buffer_is_refused(case, tqc_run, tmp_path, monkeypatch, capsys):  # noqa: ANN001
    run = _copy(tqc_run, tmp_path)
    edit, pattern = REPLAY_TAMPERS[case]
    _edit_npz(run / "checkpoints" / "replay_192_steps.npz", edit)
    argv = ["tqc", "--resume", str(run), "--timesteps", "256", "--no-progress"]
    _refused("agents", argv, run, pattern, monkeypatch, capsys)


# --------------------------------------------------------------------------- paper memory
@pytest.fixture(scope="module")
def paper(rec_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A registry holding the recurrent run, an account after one decision, and candles
    reaching the account's next decision bar (the config decides every 4 bars)."""
    tmp = tmp_path_factory.mktemp("paper")
    promote(rec_run, "rec", tmp / "models")
    candles = load_candles(REPO / "data" / "btcusdt_1h.csv.gz")
    first, later = tmp / "first.csv", tmp / "later.csv"
    candles.iloc[-600:-300].reset_index().to_csv(first, index=False)
    candles.iloc[-600:-296].reset_index().to_csv(later, index=False)
    argv = ["--model", "rec", "--root", str(tmp / "models"), "--state", str(tmp / "account")]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLTRADE_NO_LEDGER", "1")
        mp.setattr(sys, "argv", ["agents.paper", *argv, "--candles", str(first), "--replay"])
        with pytest.raises(SystemExit) as exc:
            runpy.run_module("agents.paper", run_name="__main__", alter_sys=False)
    assert exc.value.code == 0
    assert "memory" in json.loads((tmp / "account" / "state.json").read_text())
    return {"root": tmp / "models", "account": tmp / "account", "later": later}


def _values(memory: dict, value: object) -> None:
    memory["arrays"][0]["values"][0] = value


MEMORY_TAMPERS = {
    "a string": (lambda s: s.update(memory="garbage"), r"memory is str, not \{version"),
    "null": (lambda s: s.update(memory=None), r"memory is NoneType, not \{version"),
    "no version": (lambda s: s["memory"].pop("version"), r"memory is a mapping without a version"),
    "nan": (lambda s: _values(s["memory"], float("nan")), r"memory: array 0 holds NaN or inf"),
    "overflow": (lambda s: _values(s["memory"], 1e300), r"memory: array 0 holds NaN or inf"),
    "shape": (lambda s: s["memory"]["arrays"][0].update(shape=[1, 2, 32]),
              r"memory: array 0 has shape \(1, 2, 32\), the policy's is \(1, 1, 64\)"),
    "three arrays": (lambda s: s["memory"]["arrays"].append(s["memory"]["arrays"][0]),
                     r"memory: holds list, not 2 arrays"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(MEMORY_TAMPERS))
def test_a_damaged_paper_memory_is_refused_not_restarted(
    case, paper, tmp_path, monkeypatch, capsys
):  # noqa: ANN001
    account = Path(shutil.copytree(paper["account"], tmp_path / "account"))
    state = json.loads((account / "state.json").read_text())
    edit, pattern = MEMORY_TAMPERS[case]
    edit(state)
    (account / "state.json").write_text(json.dumps(state))
    argv = ["--model", "rec", "--root", str(paper["root"]), "--state", str(account),
            "--candles", str(paper["later"]), "--replay"]  # fmt: skip
    _refused("agents.paper", argv, account, r"damaged paper state \(.*" + pattern, monkeypatch,
             capsys)  # fmt: skip


def test_evaluate_refuses_an_edited_training_only_value(tqc_run, tmp_path, monkeypatch, capsys):  # noqa: ANN001
    """A value only training reads (TQC's quantiles to drop: 99 of 25) edited into config.yaml:
    evaluate names it instead of scoring the run as if nothing had changed."""
    run = _copy(tqc_run, tmp_path)
    _edit_config("tqc.top_quantiles_to_drop_per_net", 99)(run)
    argv = ["--env", "btc1h", "--split", "val", "--n-boot", "20", "--no-plots",
            "--out", str(tmp_path / "out"), str(run / "final_model.zip")]  # fmt: skip
    pattern = r"config.yaml: tqc.top_quantiles_to_drop_per_net must be in \[0, 25\) \(25 quantiles\), got 99"
    _refused("evaluate", argv, run, pattern, monkeypatch, capsys)
    assert not (tmp_path / "out").exists()
