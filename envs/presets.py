"""Named data presets: the shipped files, their sha256, and the date splits.

A preset ties a name (``btc1h``) to the candle file, the optional perpetual
funding history, the bar size and named date splits. Splits are half-open UTC
intervals ``[start, end)`` on the bar's open time. The test split never feeds
model selection; selection uses ``val``.

``btc4h``, ``btc1d``, ``eth4h``, ``eth1d`` read the shipped hourly files
(``file_bar="1h"``) and resample them on load (``envs.data.resample``: complete
UTC-aligned bars only), with the hourly presets' splits and
``periods_per_year`` of their own bar size (2,190 for 4h, 365 for 1d).
A market given as a file or catalog entry is a ``Preset`` too
(``envs.markets.resolve_market``), with ``spec`` and ``split_note`` filled in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from envs.barsize import periods_per_year

# The repo's data/ folder; RLTRADE_DATA_DIR overrides it (e.g. for a non-editable install).
DATA_DIR = Path(os.environ.get("RLTRADE_DATA_DIR", Path(__file__).resolve().parent.parent / "data"))


@dataclass(frozen=True)
class DataFile:
    """A shipped file and the sha256 of its bytes as recorded in data/PROVENANCE.md."""

    filename: str
    sha256: str

    @property
    def path(self) -> Path:
        return DATA_DIR / self.filename


@dataclass(frozen=True)
class Preset:
    """One market: candles, funding, bar size (``freq``) and named date splits.

    ``file_bar``: the bar size of the candle file; when it differs from
    ``freq`` the loader resamples the file to ``freq``. ``spec``: the market
    spec it was resolved from (the name, a path or ``catalog:entry``);
    ``split_note``: how the splits were chosen (configured or default).
    """

    name: str
    candles: DataFile
    funding: DataFile | None
    freq: str = "1h"
    periods_per_year: int = 8760  # hourly crypto trades 24/7: 24 * 365
    splits: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "train": ("2018-01-01", "2023-01-01"),
            "val": ("2023-01-01", "2024-01-01"),
            "test": ("2024-01-01", "2025-01-01"),
        }
    )
    file_bar: str = "1h"
    spec: str = ""
    split_note: str = "preset splits"

    @property
    def files(self) -> dict[str, str]:
        """``{path: recorded sha256}`` of every file this market reads."""
        out = {str(self.candles.path): self.candles.sha256}
        if self.funding is not None:
            out[str(self.funding.path)] = self.funding.sha256
        return out


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


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name``, or the market a market key names (``envs.marketspec``: a
    file path, a catalog entry, ``btc1h?bar=4h``); ``MarketSpecError`` (a ``KeyError`` and a
    ``ValueError``) naming the valid presets otherwise."""
    if isinstance(name, Preset):
        return name
    if name in PRESETS:
        return PRESETS[name]
    from envs.marketspec import market_for  # noqa: PLC0415  (envs.marketspec imports this module)

    return market_for(name)


# Planted-signal markets (envs.synthetic): generated from a fixed seed on first use.
from envs.synthetic.files import synthetic_presets  # noqa: E402  (needs DataFile/Preset above)

PRESETS.update(synthetic_presets())
