"""Where a universe's members come from: what follows ``--env`` in a portfolio command.

``members_of(env, catalog=None)`` reads

* a comma list (``btc1h,eth1h,path/to/sol.csv.gz``): presets, candle files, catalog entries;
* a catalog entry with ``members:`` (the default catalog ``data/catalog.yml``, or ``catalog``)::

      majors:
        members: [btc1h, eth1h, sol1h, sol/avax_1h.csv.gz]  # presets, entries, files

  (a file relative to the catalog; an entry of the same catalog, never another universe);
* a folder of candle files (``--env path/to/folder``).

Folder: every candle file in it is one member, in the order of their names. A file named like
a member with ``_funding`` after its stem (``sol_1h.csv.gz`` and ``sol_1h_funding.csv.gz``, as
``python -m envs.data fetch`` writes them) is that member's funding history, and
``FILE.provenance.json`` beside ``FILE`` is fetch's record of it: neither is a member. Any
other file (or a sub-folder) is refused with its name, so nothing in the folder is skipped
unsaid; names starting with ``.`` (``.DS_Store``, editors' swap files) are not members.
"""

from __future__ import annotations

import os
from pathlib import Path

from envs.data import DataValidationError
from envs.data.reading import KINDS, file_kind
from envs.markets import DEFAULT_CATALOG, MarketSpecError, read_catalog
from envs.preset_table import PRESETS
from lab.config import ConfigError

FUNDING_TAG = "_funding"
PROVENANCE = ".provenance.json"  # envs.data fetch writes FILE.provenance.json beside FILE


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
    names = {p.name for p in folder.iterdir()}
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if path.name.endswith(PROVENANCE):  # envs.data fetch's record of a file: not a member
            if path.name.removesuffix(PROVENANCE) not in names:
                raise ConfigError(
                    f"--env {folder}: {path.name} is the fetch record of no file here (no "
                    f"{path.name.removesuffix(PROVENANCE)} beside it): move it out"
                )
            continue
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


def members_of(env: str, catalog: str | os.PathLike | None = None) -> list[str]:
    """The universe's member specs; ConfigError for an empty or repeated member."""
    if Path(env).expanduser().is_dir():
        return folder_members(Path(env).expanduser())
    from_catalog = catalog_members(env, catalog)
    members = from_catalog if from_catalog is not None else [s.strip() for s in env.split(",")]
    if any(not m for m in members) or len(set(members)) != len(members):
        raise ConfigError(f"--env {env!r}: give each member once, comma-separated (no empty one)")
    return members


def is_universe_spec(env: str, catalog: str | os.PathLike | None = None) -> bool:
    """Whether one ``--env`` value is a universe: a comma list, a folder or a universe entry."""
    if "," in env or Path(env).expanduser().is_dir():
        return True
    try:
        return catalog_members(env, catalog) is not None
    except ConfigError:
        return True  # a universe entry with a fault: its own message comes from members_of


def catalog_members(env: str, catalog: str | os.PathLike | None = None) -> list[str] | None:
    """The member specs of catalog entry ``env`` when it is a universe (``members:``), else
    None; a file member relative to the catalog, an entry member as a key naming its catalog."""
    name = env.removeprefix("catalog:")
    if name in PRESETS or "," in name:
        return None
    try:
        entries, path = read_catalog(catalog)
    except MarketSpecError as err:
        raise ConfigError(str(err)) from None
    entry = entries.get(name)
    if not isinstance(entry, dict) or "members" not in entry:
        return None
    where = f"{path}: entry {name}"
    raw = entry["members"]
    if set(map(str, entry)) != {"members"}:
        raise ConfigError(
            f"{where}: a universe holds members: only (each member has its own entry)"
        )
    if not isinstance(raw, list) or len(raw) < 2 or not all(isinstance(m, str) for m in raw):
        raise ConfigError(f"{where}: members: must list two or more presets, entries or files")
    return [_member_spec(m.strip(), entries, path, where) for m in raw]


def _member_spec(member: str, entries: dict, path: Path, where: str) -> str:
    if member in PRESETS:
        return member
    if member in entries:
        if "members" in entries[member]:
            raise ConfigError(f"{where}: member {member} is a universe itself; list its members")
        own = "" if path.resolve() == DEFAULT_CATALOG.resolve() else f"?catalog={path.resolve()}"
        return f"catalog:{member}{own}"
    file = Path(member).expanduser()
    return str(file if file.is_absolute() else (path.parent / file).resolve())
