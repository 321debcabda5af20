"""Hostile inputs of the search pass (issues 23 and 24): agents.tune's storage, search space and
passed-through flags, each refused before any trial with one line (exit 2, nothing written).

Placeholders (``fixtures``): {s_<name>} search-space YAML files, {db_corrupt} (random bytes),
{db_text} (a text file), {db_other} (another program's SQLite database), {db_trunc} (an
Optuna-looking SQLite file cut short).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

TUNE = ["--env", "btc1h", "--algo", "ppo", "--trials", "2", "--out", "{new}"]
SUP = ["--env", "btc1h", "--algo", "supervised", "--trials", "2", "--out", "{new}"]
DEAD = "127.0.0.1:9"  # the discard port: closed on any machine that is not a 1980s server
DEAD_MSG = "--address 127.0.0.1:9: cannot connect (Connection refused); is the Ray head running"
FIX = "give --storage a new file in a writable folder"

SPACES = {
    "unknown": "ppo.gama: {type: float, low: 0.9, high: 0.99}\n",
    "gamma": "ppo.gamma: {type: float, low: 0.9, high: 1.5}\n",
    "lr_neg": "ppo.learning_rate: {type: float, low: -1, high: 0.1}\n",
    "bare": "gamma: {type: float, low: 0.9, high: 0.99}\n",
    "typo_key": "ppo.n_epochs: {type: int, low: 2, hihg: 10}\n",
    "int_half": "ppo.n_epochs: {type: int, low: 2.5, high: 10}\n",
    "log_word": "ppo.gamma: {type: float, low: 0.9, high: 0.99, log: maybe}\n",
    "no_choices": "ppo.gamma: {type: categorical, choices: []}\n",
    "sup_unknown": "lr2: {type: float, low: 0.001, high: 0.01}\n",
    "sup_range": "lr: {type: float, low: 0.9, high: 0.1}\n",
    "sup_batch0": "batch_size: {type: categorical, choices: [0, 128]}\n",
}

CASES: list[tuple[str, str, list[str], str]] = [
    # ---- flags: one refusal before any trial, never a failure per trial
    ("tune unknown flag", "agents.tune", [*TUNE, "--bogus", "3"], "--bogus: not a flag of"),
    ("tune supervised flag to ppo", "agents.tune", [*TUNE, "--max-train-samples", "9"],
     "--max-train-samples: not a flag of agents.tune nor of python -m agents.ppo"),
    ("tune trial seed", "agents.tune", [*TUNE, "--seed", "3"], "--seed: not for agents.tune"),
    ("tune trial run-dir", "agents.tune", [*TUNE, "--run-dir", "{new}"],
     "--run-dir: not for agents.tune"),
    ("tune trial bad value", "agents.tune", [*SUP, "--max-val-bars", "x"],
     "--max-val-bars: invalid int value"),
    # ---- search space: every edge of every entry resolved before the study starts
    ("tune space unknown param", "agents.tune", [*TUNE, "--space", "{s_unknown}"],
     "ppo.gama = 0.9 is refused by the trials' training command (unknown key 'gama'"),
    ("tune space gamma 1.5", "agents.tune", [*TUNE, "--space", "{s_gamma}"],
     "ppo.gamma = 1.5 is refused by the trials' training command (ppo.gamma must be in (0, 1]"),
    ("tune space negative lr", "agents.tune", [*TUNE, "--space", "{s_lr_neg}"],
     "ppo.learning_rate = -1.0 is refused"),
    ("tune space no section", "agents.tune", [*TUNE, "--space", "{s_bare}"],
     "gamma names no section; write section.field"),
    ("tune space misspelt key", "agents.tune", [*TUNE, "--space", "{s_typo_key}"],
     "ppo.n_epochs: unknown key 'hihg'"),
    ("tune space int 2.5", "agents.tune", [*TUNE, "--space", "{s_int_half}"],
     "ppo.n_epochs: 2.5 is not an integer"),
    ("tune space log maybe", "agents.tune", [*TUNE, "--space", "{s_log_word}"],
     "log: 'maybe'; write true or false"),
    ("tune space no choices", "agents.tune", [*TUNE, "--space", "{s_no_choices}"],
     "choices []: give a non-empty list"),
    ("tune space supervised unknown", "agents.tune", [*SUP, "--space", "{s_sup_unknown}"],
     "lr2 = 0.001 is refused by the trials' training command (--lr2 is not a supervised.train"),
    ("tune space low > high", "agents.tune", [*SUP, "--space", "{s_sup_range}"],
     "lr: `low <= high` must hold"),
    ("tune space batch 0", "agents.tune", [*SUP, "--space", "{s_sup_batch0}"],
     "batch_size = 0 is refused by the trials' training command (--batch-size 0"),
    # ---- storage: checked by hand before SQLAlchemy or Optuna see it
    ("tune storage missing folder", "agents.tune",
     [*SUP, "--storage", "sqlite:///{missing}/study.db"], "does not exist; create it (mkdir -p"),
    ("tune storage random bytes", "agents.tune", [*SUP, "--storage", "sqlite:///{db_corrupt}"],
     f"is not a SQLite database (damaged, or another kind of file); move it away or {FIX}"),
    ("tune storage a text file", "agents.tune", [*SUP, "--storage", "sqlite:///{db_text}"],
     "is not a SQLite database"),
    ("tune storage other schema", "agents.tune", [*SUP, "--storage", "sqlite:///{db_other}"],
     "is another program's SQLite database (tables: orders, users), not an Optuna study"),
    ("tune storage truncated", "agents.tune", [*SUP, "--storage", "sqlite:///{db_trunc}"],
     "is a damaged SQLite database (database disk image is malformed)"),
    ("tune storage a folder", "agents.tune", [*SUP, "--storage", "sqlite:///{dir}"],
     f"is not a file; {FIX}"),
    # ---- a Ray --address nobody answers at (a closed local port): one line, at once
    ("tune dead address", "agents.tune", [*SUP, "--address", DEAD], DEAD_MSG),
    ("ppo group dead address", "agents.ppo",
     ["--env", "btc1h", "--seeds", "0", "1", "--address", DEAD, "--run-dir", "{new}"], DEAD_MSG),
    ("supervised group dead address", "supervised.train",
     ["--env", "btc1h", "--seeds", "0", "1", "--address", DEAD, "--run-dir", "{new}"], DEAD_MSG),
]  # fmt: skip


def _optuna_like(path: Path) -> None:
    """A SQLite file with Optuna's table names, then cut short (a crash or a bad copy)."""
    con = sqlite3.connect(path)
    for t in ("studies", "trials", "version_info"):
        con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, v TEXT)")
        con.executemany(f"INSERT INTO {t} (v) VALUES (?)", [("x" * 500,)] * 200)  # noqa: S608
    con.commit()
    con.close()
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 3)


def fixtures(tmp: Path) -> dict[str, str]:
    """The search pass's placeholder files under ``tmp``."""
    out = {}
    for name, text in SPACES.items():
        (tmp / f"space_{name}.yml").write_text(text)
        out[f"s_{name}"] = str(tmp / f"space_{name}.yml")
    (tmp / "corrupt.db").write_bytes(bytes(range(256)) * 20)
    (tmp / "text.db").write_text("hello, not a database\n")
    con = sqlite3.connect(tmp / "other.db")
    con.execute("CREATE TABLE users (id INTEGER)")
    con.execute("CREATE TABLE orders (id INTEGER)")
    con.commit()
    con.close()
    _optuna_like(tmp / "trunc.db")
    return {
        **out,
        "db_corrupt": str(tmp / "corrupt.db"),
        "db_text": str(tmp / "text.db"),
        "db_other": str(tmp / "other.db"),
        "db_trunc": str(tmp / "trunc.db"),
    }
