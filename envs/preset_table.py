"""The named markets: the shipped presets (with their sha256 and splits), their 4h/1d variants and
the planted-signal synthetic markets. ``envs.presets`` documents them; resolve a name or any market
key with ``envs.presets.get_preset``.
"""

from __future__ import annotations

from dataclasses import replace

from envs.barsize import periods_per_year
from envs.preset_types import DataFile, Preset
from envs.synthetic.files import synthetic_presets

PRESETS: dict[str, Preset] = {
    "btc1h": Preset(
        name="btc1h",
        candles=DataFile(
            "btcusdt_1h.csv.gz", "4c469a79c3687f9a7e1b422dbd893102c51c784c0c1fa3cce03f05939e742a4f"
        ),
        funding=DataFile(
            "btcusdt_funding.csv.gz",
            "3d6bbfc604d5bfbe30ba10fc2f6bf76e3ae21ed30a25c6e47d1d6554d1517827",
        ),
    ),
    "eth1h": Preset(
        name="eth1h",
        candles=DataFile(
            "ethusdt_1h.csv.gz", "c36ae89ddb5586bea51730ff10a2dbc09a4bbd46881dbc448e2258feed82f213"
        ),
        funding=DataFile(
            "ethusdt_funding.csv.gz",
            "8efeff137ac569d9a5eef6c87dd4d6e74f5ca38cfb59fba14753a8e94ab143ff",
        ),
    ),
}


def _variant(base: Preset, bar: str) -> Preset:
    """``base`` (hourly files) resampled to ``bar`` on load: same files, same splits."""
    name = base.name.removesuffix(base.freq) + bar
    return replace(base, name=name, freq=bar, periods_per_year=periods_per_year(bar))


PRESETS.update(
    {
        v.name: v
        for b in ("btc1h", "eth1h")
        for v in (_variant(PRESETS[b], "4h"), _variant(PRESETS[b], "1d"))
    }
)

# Not a trading preset: the dirty early-Bitstamp file, shipped to exercise the cleaner.
BITSTAMP_2011 = DataFile(
    "btcusd_bitstamp_2011_1h.csv.gz",
    "9f847edef9354c7a69680a044f07ad2ad803e3cdbd9fa49f3864b2f3f7d6d008",
)

# Planted-signal markets (envs.synthetic): generated from a fixed seed on first use.
PRESETS.update(synthetic_presets())
