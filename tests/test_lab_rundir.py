"""Run folders: layout, provenance files, atomic writes, seeding."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from envs.presets import get_preset
from lab import atomic, rundir, runtime


def test_default_run_dir_layout() -> None:
    now = dt.datetime(2024, 3, 5, 7, 8, 9, tzinfo=dt.timezone.utc)
    path = rundir.default_run_dir("btc1h", "ppo", 7, root="/r", now=now)
    assert path == Path("/r/btc1h/ppo/20240305-070809_s7")


def test_create_run_dir_writes_command_config_meta(tmp_path: Path) -> None:
    data = tmp_path / "candles.csv"
    data.write_bytes(b"a,b\n1,2\n")
    argv = ["agents/ppo.py", "--env", "btc1h", "--config", "my file.yml"]
    config = {"algo": "ppo", "env": {"window": 32}, "seed": 3}
    path = rundir.create_run_dir(
        env="btc1h",
        algo="ppo",
        seed=3,
        config=config,
        data_files=[data],
        run_dir=tmp_path / "run",
        argv=argv,
    )
    assert path == tmp_path / "run"
    command = (path / "command.txt").read_text().strip()
    assert shlex.split(command) == [sys.executable, *argv]  # the space survives quoting
    assert yaml.safe_load((path / "config.yaml").read_text()) == config
    meta = json.loads((path / "meta.json").read_text())
    assert meta["seed"] == 3
    assert meta["data_sha256"] == {"candles.csv": hashlib.sha256(b"a,b\n1,2\n").hexdigest()}
    assert meta["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert meta["versions"]["torch"].split("+")[0] == torch.__version__.split("+")[0]
    for pkg in ("numpy", "pandas", "gymnasium", "stable-baselines3", "sb3-contrib"):
        assert meta["versions"][pkg], pkg
    assert set(meta["git"]) == {"commit", "dirty"}
    assert meta["hostname"]
    dt.datetime.strptime(meta["start_time_utc"], "%Y-%m-%dT%H:%M:%SZ")


def test_meta_json_is_written_once_with_what_the_caller_hands_in(tmp_path: Path) -> None:
    data = tmp_path / "candles.csv"
    data.write_bytes(b"a,b\n1,2\n")
    market = {"key": "btc1h", "bar": "1h"}
    path = rundir.create_run_dir(
        env="btc1h", algo="ppo", seed=1, config={}, data_files=[data],
        run_dir=tmp_path / "run", argv=["x"], meta={"market": market},
    )  # fmt: skip
    meta = json.loads((path / "meta.json").read_text())
    assert meta["market"] == market and meta["seed"] == 1
    with pytest.raises(ValueError, match=r"\['seed'\] are provenance keys"):
        rundir.write_provenance(
            tmp_path / "other", seed=1, config={}, data_files=[data], meta={"seed": 2}
        )
    assert not (tmp_path / "other").exists()  # refused before anything was written


def test_create_run_dir_refuses_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="--resume"):
        rundir.create_run_dir(
            env="btc1h", algo="ppo", seed=0, config={}, data_files=[], run_dir=tmp_path
        )


def test_real_data_hash_matches_provenance() -> None:
    candles = get_preset("btc1h").candles
    assert rundir.sha256_file(candles.path) == candles.sha256


def test_git_info_without_a_repo(tmp_path: Path) -> None:
    assert rundir.git_info(tmp_path) == {"commit": None, "dirty": None}


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "x.json"
    atomic.atomic_write_json(target, {"a": np.float32(1.5), "b": np.arange(2)})
    atomic.atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_atomic_save_keeps_old_file_when_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "model.zip"
    target.write_bytes(b"old")

    def broken(path: Path) -> None:
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic.atomic_save(target, broken)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


def test_atomic_save_keeps_suffix_for_writers_that_append_it(tmp_path: Path) -> None:
    seen: list[str] = []
    atomic.atomic_save(tmp_path / "m.zip", lambda p: (seen.append(p.suffix), p.write_bytes(b"z")))
    assert seen == [".zip"] and (tmp_path / "m.zip").read_bytes() == b"z"


def test_seed_everything_repeats_all_generators() -> None:
    def draw() -> tuple[float, float, float]:
        return random.random(), float(np.random.rand()), float(torch.rand(1))  # noqa: NPY002

    runtime.seed_everything(123)
    first = draw()
    runtime.seed_everything(123)
    assert draw() == first
    runtime.seed_everything(124)
    assert draw() != first


def test_atomic_write_gives_the_mode_a_plain_open_would(tmp_path: Path) -> None:
    import os
    import stat

    from lab.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "metrics.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
