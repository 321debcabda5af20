"""Settings of the serving commands (``agents.registry``, ``agents.predict``, ``agents.paper``).

One typed dataclass per command (and per registry subcommand) whose field docs make ``--help``
(``lab.config.add_fields``). No ``--config`` YAML: each is one short call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from backtest.ensemble import RULES
from lab.config import Rule, doc
from lab.rundir import REPO_ROOT

MODELS_DIR = REPO_ROOT / "models"
MODELS_ROOT_ENV = "RLTRADE_MODELS_ROOT"  # another default registry root (tests, a shared folder)
ROOT_DOC = f"registry root (default ${MODELS_ROOT_ENV} or the repository's models/)"
TAIL_DOC = "bars of the file's tail read (0: the whole file; default: 4 x warm-up)"
REPLAY_DOC = "a recorded file: the clock is the last bar's close (no staleness check)"
CONTEXT_DOC = (
    "candles of the model's cross-asset context market (env.context; default: that market's "
    "file); must hold the decision bar"
)


def default_models_root() -> Path:
    """``$RLTRADE_MODELS_ROOT`` or the repository's ``models/`` (read at each call)."""
    env = os.environ.get(MODELS_ROOT_ENV)
    return Path(env) if env else MODELS_DIR


def _root_field() -> Path:
    return field(default_factory=default_models_root, metadata=doc(ROOT_DOC))  # type: ignore[return-value]  # a dataclass field


@dataclass
class RegistryConfig:
    """``python -m agents.registry``: where the registry lives."""

    root: Path = _root_field()


@dataclass
class PromoteConfig:
    """``promote RUN --name NAME``: copy a checked run folder in as the next version."""

    run: str = field(default="", metadata=doc("run folder to promote", positional="RUN"))
    name: str = field(default="", metadata=doc("model name in the registry", required=True))
    market: str | None = field(
        default=None, metadata=doc("data preset the model serves (default: its env)")
    )
    ensemble: str | None = field(
        default=None,
        metadata=doc("RUN is a seed-group folder: promote every seed as one ensemble combined by "
                     "this rule (chosen on val, not test)", choices=RULES),
    )  # fmt: skip
    allow_failed_members: bool = field(
        default=False,
        metadata=doc("with --ensemble: promote the good seeds of a group with a failed or "
                     "collapsed seed (the record lists the left-out seeds)"),
    )  # fmt: skip


@dataclass
class ListConfig:
    """``list``: every model's latest version (no options)."""


@dataclass
class NameConfig:
    """``show NAME`` / ``rollback NAME``: one model."""

    name: str = field(default="", metadata=doc("model name in the registry", positional="NAME"))


REGISTRY_COMMANDS: dict[str, type] = {
    "promote": PromoteConfig,
    "list": ListConfig,
    "show": NameConfig,
    "rollback": NameConfig,
}


@dataclass
class PredictConfig:
    """``python -m agents.predict``: one decision on the last closed bar of a candle file."""

    model: str = field(default="", metadata=doc("NAME or NAME@vN in the registry", required=True))
    candles: str | None = field(  # --candles or --exchange (agents.serving.prediction.build_parser)
        default=None, metadata=doc("CSV/CSV.gz/parquet of the market's candles")
    )
    exchange: str | None = field(
        default=None, metadata=doc("fetch the newest candles from this ccxt exchange")
    )
    symbol: str | None = field(default=None, metadata=doc("with --exchange: e.g. BTC/USDT"))
    candles_out: Path | None = field(
        default=None, metadata=doc("with --exchange: the feed file (default <root>/.feeds/...)")
    )
    funding: str | None = field(default=None, metadata=doc("funding file (default: the market's)"))
    context_candles: str | None = field(default=None, metadata=doc(CONTEXT_DOC))
    root: Path = _root_field()
    json: bool = field(default=False, metadata=doc("print the decision as one JSON object"))
    now: str | None = field(
        default=None, metadata=doc("ISO time standing for the clock (tests, replays)")
    )
    replay: bool = field(default=False, metadata=doc(REPLAY_DOC))
    tail_bars: int | None = field(default=None, metadata=doc(TAIL_DOC))
    position: float = field(default=0.0, metadata=doc("current target position"))
    entry_price: float | None = field(
        default=None, metadata=doc("entry price of the current position")
    )
    bars_held: int = field(default=0, metadata=doc("bars the current position has been held"))
    bars_since_trade: int | None = field(
        default=None,
        metadata=doc("bars since the account last traded (a model's min_hold keeps the position "
                     "that long after a trade); default: long ago"),
    )  # fmt: skip

    RULES: ClassVar[dict[str, Rule]] = {
        "tail_bars": (lambda v: v >= 0, ">= 0 (0: the whole file)"),
        "bars_held": (lambda v: v >= 0, ">= 0"),
        "bars_since_trade": (lambda v: v is None or v >= 0, ">= 0"),
        "position": (
            lambda v: -10.0 <= v <= 10.0,
            "in [-10, 10] (-1 short, 0 flat, 1 long; beyond 1: a max_leverage model's position)",
        ),
        "entry_price": (lambda v: v > 0, "> 0 (the price the position was entered at)"),
    }


@dataclass
class PaperConfig:
    """``python -m agents.paper``: one paper-trading tick, its state kept in a folder."""

    model: str = field(default="", metadata=doc("NAME or NAME@vN in the registry", required=True))
    candles: str = field(
        default="", metadata=doc("CSV/CSV.gz/parquet of hourly candles", required=True)
    )
    state: Path = field(
        default=Path(), metadata=doc("folder of the paper account's state", required=True)
    )
    root: Path = _root_field()
    now: str | None = field(
        default=None, metadata=doc("ISO time standing for the clock (tests, replays)")
    )
    replay: bool = field(default=False, metadata=doc(REPLAY_DOC))
    funding: str | None = field(default=None, metadata=doc("funding file (default: the market's)"))
    context_candles: str | None = field(default=None, metadata=doc(CONTEXT_DOC))
    tail_bars: int | None = field(default=None, metadata=doc(TAIL_DOC))

    RULES: ClassVar[dict[str, Rule]] = {"tail_bars": (lambda v: v >= 0, ">= 0 (0: the whole file)")}
