"""The data-source table (``envs.preset_table.PRESETS``): every named market complete."""

from __future__ import annotations

import re

import pandas as pd

from envs.barsize import periods_per_year
from envs.preset_table import PRESETS
from envs.preset_types import DataFile, Preset

SHA256 = re.compile(r"[0-9a-f]{64}")


def problems(name: str, p: Preset) -> list[str]:
    """What is missing or inconsistent in one row (empty when complete)."""
    out = []
    if p.name != name:
        out.append(f"{name}: named {p.name!r}")
    files = [p.candles] + ([] if p.funding is None else [p.funding])
    out += [
        f"{name}: {f.filename!r} has no sha256" for f in files if not SHA256.fullmatch(f.sha256)
    ]
    if p.periods_per_year != periods_per_year(p.freq):
        out.append(f"{name}: periods_per_year {p.periods_per_year} is not {p.freq}'s")
    if not {"train", "val", "test"} <= set(p.splits):
        out.append(f"{name}: splits {sorted(p.splits)} lack train/val/test")
    else:
        bounds = [tuple(map(pd.Timestamp, p.splits[s])) for s in ("train", "val", "test")]
        if any(a >= b for a, b in bounds) or any(
            x[1] > y[0] for x, y in zip(bounds, bounds[1:], strict=False)
        ):
            out.append(f"{name}: splits are empty or overlap")
    return out


def test_every_preset_is_complete() -> None:
    assert {"btc1h", "eth1h", "btc4h", "eth1d"} <= set(PRESETS)
    assert [p for name, preset in PRESETS.items() for p in problems(name, preset)] == []


def test_the_checker_flags_an_incomplete_row() -> None:
    bad = Preset(
        name="x",
        candles=DataFile("x.csv", "abc"),
        funding=None,
        freq="4h",
        splits={"train": ("2020-01-01", "2021-01-01"), "val": ("2020-06-01", "2020-01-01")},
    )
    assert problems("y", bad) == [
        "y: named 'x'",
        "y: 'x.csv' has no sha256",
        "y: periods_per_year 8760 is not 4h's",
        "y: splits ['train', 'val'] lack train/val/test",
    ]
