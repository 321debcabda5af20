"""The config mechanism: typed dataclasses whose fields carry their docs, YAML layers, checks.

* ``doc(text)``: field metadata holding the field's documentation (``describe`` prints it);
* ``coerce(value, type, where)``: a YAML/CLI value to the field's type, or a ``ConfigError``;
* ``apply_section(obj, updates, source, section)``: set a YAML section on a dataclass; unknown
  keys raise naming the key, the file and the valid keys;
* ``load_yaml(path)``: a YAML mapping or a ``ConfigError`` naming the file;
* ``check_choice(flag, value, valid, source)``: an enum-like value or a one-line error.

``ConfigError`` lives at the bottom layer so that every package's config (agents' run config,
the supervised trainer's, evaluate's, ``envs.data``'s) can raise the same type, and
``lab.cli.run_cli`` turns it into one ``error:`` line with exit code 2.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file or flag is invalid; the message names the key, the source and the fix."""


def check_choice(flag: str, value: object, valid: object, source: str = "the command line") -> None:
    """Raise a ConfigError naming ``flag``, the bad ``value``, its ``source`` and the valid ones."""
    choices = sorted(str(v) for v in valid)  # type: ignore[attr-defined]
    if str(value) not in choices:
        raise ConfigError(f"unknown {flag} {value!r} (from {source}); valid: {', '.join(choices)}")


def doc(text: str) -> dict[str, str]:
    """Field metadata carrying the field's documentation (shown by ``describe``)."""
    return {"doc": text}


def coerce(value: Any, tp: Any, where: str) -> Any:  # noqa: C901  (one branch per field type)
    """Coerce a YAML/CLI value to the field type (YAML 1.1 reads ``3e-4`` as a string)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a valid {tp}")
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            raise TypeError
        if tp is int:
            if isinstance(value, bool) or float(value) != int(float(value)):
                raise TypeError
            return int(float(value))
        if tp is float:
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if tp is str:
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: {value!r} is not a valid {getattr(tp, '__name__', tp)}"
        ) from None
    return value  # Any, dict, list: passed through


def apply_section(obj: Any, updates: dict[str, Any], source: str, section: str) -> None:
    """Set ``updates`` on dataclass ``obj``; unknown keys raise naming the valid ones."""
    if not isinstance(updates, dict):
        raise ConfigError(f"{source}: section {section!r} must be a mapping, got {updates!r}")
    hints = typing.get_type_hints(type(obj))
    valid = [f.name for f in dataclasses.fields(obj)]
    for key, value in updates.items():
        if key not in valid:
            raise ConfigError(
                f"unknown key {key!r} in section {section!r} of {source}; "
                f"valid keys: {', '.join(valid)}"
            )
        setattr(obj, key, coerce(value, hints[key], f"{source}: {section}.{key}"))


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or non-mapping is a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    return data


def describe(cls: type) -> str:
    """One line per field: name, default and documentation (for --help epilogs and docs)."""
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
        lines.append(f"  {f.name} = {default!r}: {f.metadata.get('doc', '')}")
    return "\n".join(lines)
