"""One feature normaliser per market: what a policy trained on several markets reads with.

A run trained on several markets (``envs.multimarket``) normalised each market's features on
that market's own train split. ``MarketNormalisers`` keeps those normalisers together and hands
the right one to whoever builds an env: ``envs.load_market(key, ..., normaliser=mn)`` (and so
``make_env``, the backtests, ``evaluate``) call ``pick_normaliser(mn, market)``, which returns

1. the normaliser of the market whose candle file has the same sha256 (the same data: a
   preset, its key with ``?start=`` for a window, the same file by another path);
2. else the normaliser of the market with the same name (``eth1h``, a catalog entry's name);
3. else the first market's: a market the run never trained on is read like a single-market
   run reads any other market, with its (first) training market's normaliser.

A run folder keeps them in ``normalisers.json`` (``{"markets": [{"key", "name",
"candles_sha256", "normaliser"}]}``) next to ``normaliser.json`` (the first market's, so every
reader of a single normaliser still works on the first market).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.features import RobustNormaliser

FILE_NAME = "normalisers.json"


@dataclass(frozen=True)
class MarketEntry:
    """A market a run trained on and its train-fitted normaliser."""

    key: str
    name: str
    candles_sha256: str
    normaliser: RobustNormaliser


class MarketNormalisers:
    """The normalisers of a several-market run, in training order (module doc)."""

    def __init__(self, entries: list[MarketEntry]) -> None:
        if not entries:
            raise ValueError("MarketNormalisers needs at least one market")
        self.entries = list(entries)

    @property
    def primary(self) -> RobustNormaliser:
        """The first market's normaliser (``normaliser.json``)."""
        return self.entries[0].normaliser

    @property
    def feature_names(self) -> Any:
        """The feature columns (every market's are the same: ``envs.multimarket`` checks)."""
        return self.primary.feature_names

    def for_market(self, market: Any) -> RobustNormaliser:
        """The normaliser for a resolved market (``envs.preset_types.Preset``): same candle
        sha256, else same name, else the first market's."""
        candles = getattr(market, "candles", None)
        sha = getattr(candles, "sha256", None)
        for e in self.entries:
            if sha is not None and e.candles_sha256 == sha:
                return e.normaliser
        for e in self.entries:
            if e.name == getattr(market, "name", None):
                return e.normaliser
        return self.primary

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``normalisers.json``)."""
        return {
            "markets": [
                {
                    "key": e.key,
                    "name": e.name,
                    "candles_sha256": e.candles_sha256,
                    "normaliser": e.normaliser.to_dict(),
                }
                for e in self.entries
            ]
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = FILE_NAME) -> MarketNormalisers:
        """Rebuild ``to_dict()``'s data; anything else is a ValueError naming ``source``."""
        rows = data.get("markets") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise ValueError(f"{source}: expected {{'markets': [...]}} with one entry per market")
        entries = []
        for i, row in enumerate(rows):
            if not isinstance(row, dict) or not {
                "key",
                "name",
                "candles_sha256",
                "normaliser",
            } <= set(row):
                raise ValueError(
                    f"{source}: market {i} needs key, name, candles_sha256 and normaliser"
                )
            entries.append(
                MarketEntry(
                    str(row["key"]),
                    str(row["name"]),
                    str(row["candles_sha256"]),
                    RobustNormaliser.from_dict(row["normaliser"]),
                )
            )
        return cls(entries)

    def save(self, path: str | Path) -> None:
        """Write ``to_dict()`` as JSON (callers that need atomicity write through lab.atomic)."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> MarketNormalisers:
        """Read a ``normalisers.json``."""
        return cls.from_dict(json.loads(Path(path).read_text()), str(path))


def pick_normaliser(normaliser: Any, market: Any) -> Any:
    """``normaliser`` itself, or, for ``MarketNormalisers``, the one for ``market``."""
    if isinstance(normaliser, MarketNormalisers):
        return normaliser.for_market(market)
    return normaliser


def load_run_normaliser(run_dir: str | Path) -> Any:
    """A run folder's normaliser: ``MarketNormalisers`` when it has ``normalisers.json``, else
    its ``normaliser.json`` (None when it has neither)."""
    d = Path(run_dir)
    if (d / FILE_NAME).is_file():
        return MarketNormalisers.load(d / FILE_NAME)
    if (d / "normaliser.json").is_file():
        return RobustNormaliser.load(d / "normaliser.json")
    return None
