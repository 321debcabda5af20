"""The types of a market definition: a data file with its sha256, and a ``Preset`` (one market).

Kept apart from the table of named markets (``envs.preset_table``) and from key resolution
(``envs.presets.get_preset``) so that the data loaders, the synthetic markets and the market
resolvers can all import them without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
