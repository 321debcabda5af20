"""A folder of candle files as a universe: ``--env path/to/folder``.

Every candle file in the folder is one member, in the order of their names. A file named like
a member with ``_funding`` after its stem (``sol_1h.csv.gz`` and ``sol_1h_funding.csv.gz``, as
``python -m envs.data fetch`` writes them) is that member's funding history, not a member. Any
other file (or a sub-folder) is refused with its name, so nothing in the folder is skipped
unsaid; names starting with ``.`` (``.DS_Store``, editors' swap files) are not members.
"""

from __future__ import annotations

from pathlib import Path

from envs.data import DataValidationError
from envs.data.reading import KINDS, file_kind
from lab.config import ConfigError

FUNDING_TAG = "_funding"


def _stem(path: Path) -> str:
    """``sol_1h.csv.gz`` -> ``sol_1h``."""
    return path.name.split(".", 1)[0]


def _is_candle_file(path: Path) -> bool:
    try:
        file_kind(path)
    except DataValidationError:
        return False
    return path.is_file()


def folder_members(folder: Path) -> list[str]:
    """The folder's members as market specs (``file`` or ``file?funding=file``), by name."""
    candles: dict[str, Path] = {}
    funding: dict[str, Path] = {}
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if not _is_candle_file(path):
            raise ConfigError(
                f"--env {folder}: {path.name} is not a candle file ({KINDS}); a folder universe "
                "takes every file in it as a member: move it out, or list the members with commas"
            )
        stem = _stem(path)
        kind, key = (
            (funding, stem.removesuffix(FUNDING_TAG))
            if stem.endswith(FUNDING_TAG)
            else (candles, stem)
        )
        if key in kind:
            raise ConfigError(
                f"--env {folder}: {kind[key].name} and {path.name} are one market's file twice; "
                "keep one of them"
            )
        kind[key] = path
    orphans = sorted(set(funding) - set(candles))
    if orphans:
        raise ConfigError(
            f"--env {folder}: {funding[orphans[0]].name} is the funding of no member (no "
            f"{orphans[0]}.* candle file beside it)"
        )
    if len(candles) < 2:
        raise ConfigError(
            f"--env {folder}: {len(candles)} candle file(s); a universe needs two or more "
            "members (for one market, give its file)"
        )
    return [
        str(path) + (f"?funding={funding[stem]}" if stem in funding else "")
        for stem, path in sorted(candles.items())
    ]
