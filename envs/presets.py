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

from envs.marketspec import market_for
from envs.preset_table import BITSTAMP_2011, PRESETS
from envs.preset_types import DATA_DIR, DataFile, Preset

__all__ = ["BITSTAMP_2011", "DATA_DIR", "PRESETS", "DataFile", "Preset", "get_preset"]


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name``, or the market a market key names (``envs.marketspec``: a
    file path, a catalog entry, ``btc1h?bar=4h``); ``MarketSpecError`` (a ``KeyError`` and a
    ``ValueError``) naming the valid presets otherwise."""
    if isinstance(name, Preset):
        return name
    if name in PRESETS:
        return PRESETS[name]
    return market_for(name)
