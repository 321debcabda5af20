"""Market specs: presets, files and catalog entries resolve to a Preset with hashes and splits."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest

from envs.barsize import BarSizeError
from envs.data import load_candles, load_clean
from envs.data.errors import DataIntegrityError
from envs.data.loading import file_sha256
from envs.markets import MarketSpecError, describe, resolve_market
from envs.presets import PRESETS
from envs.splits import split_index_range
from tests.conftest import synthetic_candles


def _write(frame: pd.DataFrame, path) -> None:
    table = frame.copy()
    table.index = table.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    table.index.name = "timestamp"
    table.to_csv(path)


def test_preset_names_and_rebar():
    assert resolve_market("btc1h") == dataclasses.replace(PRESETS["btc1h"], spec="btc1h")
    m = resolve_market("btc1h", bar="1d")
    assert (m.freq, m.periods_per_year, m.file_bar, m.name) == ("1d", 365, "1h", "btc1h@1d")
    assert len(load_candles(m)) == 2_529


def test_a_file_gets_default_splits_hashes_and_its_bar(tmp_path):
    path = tmp_path / "sol_4h.csv.gz"
    _write(synthetic_candles(1000, freq="4h", start="2022-01-01"), path)
    m = resolve_market(str(path))
    assert (m.name, m.freq, m.periods_per_year, m.spec) == ("sol_4h", "4h", 2190, str(path))
    assert m.files == {str(path.resolve()): file_sha256(path)}
    # 1000 bars of 4h = 4000 h: train 2800 h, val 600 h, test 600 h
    assert m.splits == {
        "train": ("2022-01-01T00:00:00", "2022-04-27T16:00:00"),
        "val": ("2022-04-27T16:00:00", "2022-05-22T16:00:00"),
        "test": ("2022-05-22T16:00:00", "2022-06-16T16:00:00"),
    }
    assert m.split_note.startswith("default splits 70/15/15 by time")
    cleaned, _ = load_clean(m)
    lo, hi = split_index_range(cleaned.index, m, "val")
    assert (lo, hi) == (700, 850)
    assert describe(m)["files"] == m.files
    _write(synthetic_candles(1000, freq="4h", start="2022-01-01", seed=9), path)
    with pytest.raises(DataIntegrityError, match="changed since its market was resolved"):
        load_candles(m)


def test_catalog_entry_with_splits_funding_and_bar(tmp_path):
    (tmp_path / "d").mkdir()
    _write(synthetic_candles(500, start="2023-01-01"), tmp_path / "d" / "x_1h.csv")
    f = pd.DataFrame(
        {"funding_rate": [1e-4, 2e-4]},
        index=pd.Index(["2023-01-01T08:00:00Z", "2023-01-01T16:00:00Z"], name="timestamp"),
    )
    f.to_csv(tmp_path / "d" / "x_funding.csv")
    cat = tmp_path / "catalog.yml"
    cat.write_text(
        "xusd:\n  candles: d/x_1h.csv\n  funding: d/x_funding.csv\n  partial_funding: true\n  bar: 4h\n"
        "  splits:\n    train: [2023-01-01, 2023-01-10]\n    val: [2023-01-10, 2023-01-15]\n"
        "    test: [2023-01-15, '2023-01-21T20:00']\n"  # the data end: 500 h after the start
    )
    m = resolve_market("xusd", catalog=cat)
    assert (m.name, m.freq, m.file_bar, m.spec, m.split_note) == (
        "xusd",
        "4h",
        "1h",
        "catalog:xusd",
        "configured splits",
    )
    assert m.splits["val"] == ("2023-01-10T00:00:00", "2023-01-15T00:00:00")
    assert len(m.files) == 2 and resolve_market("catalog:xusd", catalog=cat).name == "xusd"
    assert len(load_candles(m)) == 125


@pytest.mark.parametrize(
    ("spec", "kwargs", "error", "words"),
    [
        (
            "nope",
            {},
            MarketSpecError,
            "unknown market 'nope'; valid presets: btc1d, btc1h, btc4h, eth1d, eth1h, eth4h, synth-",
        ),
        ("missing.csv", {}, MarketSpecError, "missing.csv: no such file"),
        ("DIR", {}, MarketSpecError, "is a directory"),
        ("btc1h", {"bar": "banana"}, BarSizeError, "'banana' is not a bar size"),
        ("FILE4H", {"bar": "6h"}, MarketSpecError, "cannot be made from its 4h bars"),
        ("btc1h", {"funding": "f.csv"}, MarketSpecError, "has its own funding file"),
        ("catalog:zzz", {"catalog": "CAT"}, MarketSpecError, "no entry 'zzz'"),
        ("nope", {"catalog": "nocat.yml"}, MarketSpecError, "--catalog nocat.yml: no such file"),
    ],
)
def test_one_line_errors(tmp_path, spec, kwargs, error, words):
    cat = tmp_path / "c.yml"
    cat.write_text("a:\n  candles: a.csv\n")
    spec = str(tmp_path) if spec == "DIR" else spec
    if spec == "FILE4H":
        spec = str(tmp_path / "f4.csv")
        _write(synthetic_candles(50, freq="4h"), spec)
    kwargs = {k: (str(cat) if v == "CAT" else v) for k, v in kwargs.items()}
    with pytest.raises(error, match=re.escape(words)) as info:
        resolve_market(spec, **kwargs)
    assert "\n" not in str(info.value)


def test_bad_catalog_entries(tmp_path):
    cat = tmp_path / "c.yml"
    cat.write_text("a:\n  candles: a.csv\n  colour: red\nb:\n  funding: f.csv\n")
    with pytest.raises(MarketSpecError, match="unknown key"):
        resolve_market("a", catalog=cat)
    with pytest.raises(MarketSpecError, match="no 'candles:' path"):
        resolve_market("b", catalog=cat)
    cat.write_text("a: [1, 2\n")
    with pytest.raises(MarketSpecError, match="not a valid YAML catalog"):
        resolve_market("a", catalog=cat)


CAT_SPLITS = {  # entry splits -> the one-line message (catalog file, entry, split, fix)
    "val inside train": (
        ("2023-01-01", "2023-01-15"),
        ("2023-01-05", "2023-01-10"),
        ("2023-01-15", "2023-01-20"),
        "entry x: split val [2023-01-05T00:00:00, 2023-01-10T00:00:00) starts before train ends "
        "(2023-01-15T00:00:00); splits must be ordered train, val, test without overlap: start "
        "val at 2023-01-15T00:00:00 or later",
    ),
    "val before train": (
        ("2023-01-10", "2023-01-15"),
        ("2023-01-01", "2023-01-10"),
        ("2023-01-15", "2023-01-20"),
        "entry x: split val [2023-01-01T00:00:00, 2023-01-10T00:00:00) starts before train ends "
        "(2023-01-15T00:00:00)",
    ),
    "test past the data": (
        ("2023-01-01", "2023-01-10"),
        ("2023-01-10", "2023-01-15"),
        ("2023-01-15", "2023-02-01"),
        "entry x: split test [2023-01-15T00:00:00, 2023-02-01T00:00:00) reaches outside the "
        "candles, which cover [2023-01-01T00:00:00, 2023-01-21T20:00:00); keep every split "
        "inside that span (or add candles)",
    ),
    "train before the data": (
        ("2022-06-01", "2023-01-10"),
        ("2023-01-10", "2023-01-15"),
        ("2023-01-15", "2023-01-20"),
        "entry x: split train [2022-06-01T00:00:00, 2023-01-10T00:00:00) reaches outside",
    ),
}


@pytest.mark.parametrize("case", sorted(CAT_SPLITS))
def test_catalog_splits_are_ordered_disjoint_and_inside_the_data(tmp_path, case):
    *pairs, words = CAT_SPLITS[case]
    _write(synthetic_candles(500, start="2023-01-01"), tmp_path / "x.csv")
    cat = tmp_path / "catalog.yml"
    lines = [
        f"    {k}: [{a}, {b}]" for k, (a, b) in zip(("train", "val", "test"), pairs, strict=True)
    ]
    cat.write_text("x:\n  candles: x.csv\n  splits:\n" + "\n".join(lines) + "\n")
    with pytest.raises(MarketSpecError) as info:
        resolve_market("x", catalog=cat)
    assert str(info.value).startswith(f"{cat}: {words}"), str(info.value)


def test_a_catalog_entry_named_like_a_preset_is_an_error_never_shadowed(tmp_path):
    _write(synthetic_candles(100), tmp_path / "x.csv")
    cat = tmp_path / "catalog.yml"
    cat.write_text("btc1h:\n  candles: x.csv\nmine:\n  candles: x.csv\n")
    msg = (
        f"{cat}: entry btc1h has the name of a preset; a preset name always means the shipped "
        "preset, so this entry would never be used: rename it (e.g. my_btc1h)"
    )
    for spec in ("btc1h", "catalog:btc1h", "mine"):
        with pytest.raises(MarketSpecError) as info:
            resolve_market(spec, catalog=cat)
        assert str(info.value) == msg
    assert resolve_market("btc1h").name == "btc1h"  # no catalog given: the preset


def test_a_huge_catalog_is_refused_before_it_is_parsed(tmp_path):
    cat = tmp_path / "c.yml"
    cat.write_text("# " + "x" * (1 << 20) + "\n")
    with pytest.raises(MarketSpecError, match="more than a catalog needs"):
        resolve_market("a", catalog=cat)
