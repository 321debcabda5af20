"""The ``python -m envs.data`` settings: one typed dataclass per subcommand (docs make ``--help``).

The market flags (``--catalog``, ``--bar``) belong to ``envs.markets`` and are added by the
command line next to these; everything else is a field here. No ``--config`` YAML: each
subcommand is one short call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from envs.data.cleaning import OUTLIER_POLICIES
from envs.data.quality import DEFAULT_OUTLIER_K
from lab.config import Rule, doc

FRACTION: Rule = (lambda v: 0.0 <= v <= 1.0, "in [0, 1]")


@dataclass
class SourceConfig:
    """The options every subcommand that reads a SOURCE shares."""

    source: str = field(
        default="",
        metadata=doc(
            "preset name, file path or catalog entry (envs/markets.py)", positional="SOURCE"
        ),
    )
    json: bool = field(default=False, metadata=doc("print only a JSON object on stdout"))
    outlier_k: float = field(
        default=DEFAULT_OUTLIER_K, metadata=doc("bad-tick threshold in robust-scale units")
    )
    no_verify: bool = field(default=False, metadata=doc("skip a preset file's sha256 check"))
    debug: bool = field(default=False, metadata=doc("show the traceback of an error"))

    RULES: ClassVar[dict[str, Rule]] = {"outlier_k": (lambda v: v > 0, "> 0")}


@dataclass
class ReportConfig(SourceConfig):
    """``report``: the quality report of SOURCE."""


@dataclass
class CleanConfig(SourceConfig):
    """``clean``: validate, apply the cleaning policy, optionally write."""

    out: Path | None = field(
        default=None, metadata=doc("write cleaned candles (.csv, .csv.gz, .parquet)")
    )
    min_valid_fraction: float = field(
        default=0.9,
        metadata=doc("gate: refuse when usable bars / expected bars is below this"),
    )
    outliers: str = field(
        default="drop",
        metadata=doc(
            "bad ticks: drop, keep (list only) or raise (refuse)", tuple(OUTLIER_POLICIES)
        ),
    )

    RULES: ClassVar[dict[str, Rule]] = {**SourceConfig.RULES, "min_valid_fraction": FRACTION}


@dataclass
class ResampleConfig(SourceConfig):
    """``resample``: aggregate to a coarser bar size on UTC boundaries."""

    to: str = field(default="", metadata=doc("target bar size, e.g. 4h or 1d", required=True))
    out: Path | None = field(default=None, metadata=doc("write (.csv, .csv.gz, .parquet)"))


@dataclass
class FetchConfig:
    """``fetch``: download closed candles (and funding) with ccxt."""

    exchange: str = field(default="", metadata=doc("ccxt exchange id, e.g. binance", required=True))
    symbol: str = field(
        default="",
        metadata=doc(
            "market symbol, e.g. SOL/USDT; a comma list fetches a universe", required=True
        ),
    )
    timeframe: str = field(default="", metadata=doc("bar size, 1m .. 1d", required=True))
    since: str | None = field(
        default=None, metadata=doc("first bar (UTC date); required for a new file")
    )
    until: str | None = field(
        default=None, metadata=doc("stop before this UTC instant (default: now)")
    )
    out: Path = field(
        default=Path(),
        metadata=doc(
            "candle file (.csv, .csv.gz, .parquet); a folder for a universe", required=True
        ),
    )
    funding: bool = field(
        default=False, metadata=doc("also fetch funding into <out stem>_funding.<ext>")
    )
    min_valid_fraction: float = field(default=0.9, metadata=doc("cleaning gate"))
    json: bool = field(
        default=False, metadata=doc("accepted for symmetry; fetch prints its progress as text")
    )
    debug: bool = field(default=False, metadata=doc("show the traceback of an error"))

    RULES: ClassVar[dict[str, Rule]] = {"min_valid_fraction": FRACTION}


COMMANDS: dict[str, type] = {
    "report": ReportConfig,
    "clean": CleanConfig,
    "resample": ResampleConfig,
    "fetch": FetchConfig,
}
