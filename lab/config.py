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

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from lab.strict_yaml import MAX_YAML_NODES, StrictLoader, parse_yaml  # noqa: F401  (re-exported)


class ConfigError(ValueError):
    """A config file or flag is invalid; the message names the key, the source and the fix."""


SEED_MAX = 2**32 - 1  # numpy, torch and SB3 take seeds in [0, 2**32 - 1]


def check_seed(flag: str, value: Any, source: str = "the command line") -> None:
    """A seed is an int in [0, 2**32 - 1]; else one line naming the flag (numpy raised a
    traceback for -1 and 'Overflow when unpacking long long' for 10**20)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
        raise ConfigError(
            f"{flag} {value!r} (from {source}): a seed must be an integer from 0 to {SEED_MAX}"
        )


def is_seed_field(name: str) -> bool:
    """``seed``, ``seeds``, ``bootstrap_seed``, ``sampler_seed``: checked by ``check_rules``."""
    return name in ("seed", "seeds") or name.endswith("_seed")


def check_choice(flag: str, value: object, valid: object, source: str = "the command line") -> None:
    """Raise a ConfigError naming ``flag``, the bad ``value``, its ``source`` and the valid ones."""
    choices = sorted(str(v) for v in valid)  # type: ignore[attr-defined]
    if str(value) not in choices:
        raise ConfigError(f"unknown {flag} {value!r} (from {source}); valid: {', '.join(choices)}")


def doc(
    text: str,
    choices: tuple[str, ...] | list[str] | None = None,
    *,
    required: bool = False,
    append: bool = False,
    positional: str | None = None,
    rest: bool = False,
) -> dict[str, Any]:
    """Field metadata: the field's documentation (``describe``, ``--help``) and its choices.

    ``required``: the flag must be given on the command line; ``append``: a list field taken
    as a repeated flag (``--x A --x B``) rather than one flag with several values;
    ``positional``: a list field taken as the command's positional arguments (this metavar);
    ``rest``: a list field holding the flags the parser does not know (``parse_known_args``),
    documented in the help's epilog, set by the command itself.
    """
    meta: dict[str, Any] = {"doc": text}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if required:
        meta["required"] = True
    if append:
        meta["append"] = True
    if positional:
        meta["positional"] = positional
    if rest:
        meta["rest"] = True
    return meta


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
        # object.__setattr__: a frozen dataclass (``TreeSizes``) is filled the same way, on the
        # fresh instance its resolver owns
        object.__setattr__(obj, key, coerce(value, hints[key], f"{source}: {section}.{key}"))


def yaml_problem(err: Exception) -> str:
    """A YAML (or decoding) error in one line: what went wrong and where."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return " ".join(f"{problem}{where}".split())


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file or non-mapping is a ConfigError naming the file.

    Refused, each with one line: a folder, a missing file or a broken/looping symlink, a FIFO or
    device (reading one would block or read nothing), an empty file (a config that says
    nothing is a mistake: drop the flag instead), text that is not YAML, a key given twice.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"config file {path} is a folder; give a YAML file")
    if path.is_symlink() and not path.exists():
        raise ConfigError(f"config file {path} is a broken or looping symlink; give a YAML file")
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"config file {path} is not a regular file (a FIFO, socket or device); give a YAML file"
        )
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(err)}); fix the file") from None
    if data is None:
        raise ConfigError(
            f"{path}: the file is empty (no settings); write the settings or drop the flag"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: expected a YAML mapping (key: value lines) at the top level, "
            f"got a {type(data).__name__}"
        )
    return data


def describe(cls: type) -> str:
    """One line per field: name, default and documentation (for --help epilogs and docs)."""
    lines = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc,operator]
        lines.append(f"  {f.name} = {default!r}: {f.metadata.get('doc', '')}")
    return "\n".join(lines)


CLI = "the command line"
# a rule: (predicate on the value, what the value must be); see ``check_rules``
Rule = tuple[Callable[[Any], bool], str]


def flag_of(name: str) -> str:
    """``max_val_bars`` -> ``--max-val-bars``."""
    return "--" + name.replace("_", "-")


def _field_type(tp: Any) -> Any:
    """The non-None member of ``X | None``; ``dict[...]`` -> ``dict``; else ``tp``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return typing.get_origin(tp) or tp


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()  # type: ignore[misc,operator]


def _list_argument(parser: argparse.ArgumentParser, f: dataclasses.Field[Any], tp: Any) -> None:
    """A list field: ``--name A B ...`` (or a repeated ``--name A`` with ``doc(append=True)``)."""
    item = next(iter(typing.get_args(tp)), str)
    text = str(f.metadata.get("doc", "")).replace("%", "%%")
    if f.metadata.get("rest"):
        parser.epilog = "\n".join(filter(None, [parser.epilog, f"{f.name}: {text}"]))
        return
    if f.metadata.get("positional"):
        parser.add_argument(
            f.name,
            nargs="*",
            type=item,
            metavar=f.metadata["positional"],
            default=argparse.SUPPRESS,
            help=f"{f.name}: {text}",
        )
        return
    extra: dict[str, Any] = (
        {"action": "append", "metavar": f.name.upper().rstrip("S")}
        if f.metadata.get("append")
        else {"nargs": "+"}
    )
    parser.add_argument(
        flag_of(f.name),
        dest=f.name,
        type=item,
        choices=f.metadata.get("choices"),
        default=argparse.SUPPRESS,
        help=f"{f.name}: {text} (default: {' '.join(map(str, _default(f))) or 'none'})",
        **extra,
    )


def _list_type(tp: Any) -> Any:
    """``list[int] | None`` -> ``list[int]``; else None."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp if typing.get_origin(tp) is list else None


def add_fields(  # noqa: C901  (one branch per field kind)
    parser: argparse.ArgumentParser,
    cls: type,
    config_flag: bool = True,
    skip: tuple[str, ...] = (),
) -> None:
    """One flag per field of dataclass ``cls``, its help the field's ``doc``.

    Defaults are suppressed (an absent flag is absent from the namespace), so the dataclass's
    default, then a ``--config`` YAML, then a given flag win in that order (``resolve``). A bool
    field that defaults to True is turned off with ``--no-<name>``; a dict field takes repeated
    ``--<name without s> KEY=VALUE`` (values read as YAML scalars); a list field takes
    ``--<name> A B ...``. ``config_flag=False`` leaves ``--config`` to the caller (a command
    whose ``--config`` already means something else). ``skip``: fields whose flags the caller
    writes itself (e.g. in a mutually exclusive group); ``resolve`` still reads them.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        tp, default = _field_type(hints[f.name]), _default(f)
        text = str(f.metadata.get("doc", "")).replace("%", "%%")
        if _list_type(hints[f.name]) is not None:
            _list_argument(parser, f, _list_type(hints[f.name]))
        elif f.metadata.get("positional"):  # one required positional argument
            parser.add_argument(
                f.name, type=tp, metavar=f.metadata["positional"], help=f"{f.name}: {text}"
            )
        elif tp is bool:
            neg = bool(default)
            parser.add_argument(
                flag_of(("no_" if neg else "") + f.name),
                dest=f.name,
                action="store_false" if neg else "store_true",
                default=argparse.SUPPRESS,
                help=f"{f.name}: {text} (default: {default})",
            )
        elif tp is dict:
            parser.add_argument(
                flag_of(f.name).rstrip("s"),
                dest=f.name,
                action="append",
                metavar="KEY=VALUE",
                default=argparse.SUPPRESS,
                help=f"{f.name}: {text} (repeatable)",
            )
        else:
            parser.add_argument(
                flag_of(f.name),
                dest=f.name,
                type=tp,
                choices=f.metadata.get("choices"),
                required=bool(f.metadata.get("required")),
                default=argparse.SUPPRESS,
                help=f"{f.name}: {text}"
                + ("" if f.metadata.get("required") else f" (default: {default})"),
            )
    if config_flag:
        parser.add_argument(
            "--config", default=None, metavar="FILE", help="YAML mapping of the fields above"
        )


def key_values(items: list[str], where: str) -> dict[str, Any]:
    """``["k=0.2", "vol_scaled=true"]`` -> ``{"k": 0.2, "vol_scaled": True}`` (YAML scalars)."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{where}: expected KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def resolve(
    cls: type, args: argparse.Namespace, config_file: bool = True
) -> tuple[Any, dict[str, str]]:
    """The dataclass from its defaults, then ``args.config`` (YAML), then the given flags.

    ``config_file=False``: ``args.config`` is not this dataclass's YAML (see ``add_fields``).
    Returns the config and, per field, where its value came from (for error messages).
    """
    path = getattr(args, "config", None) if config_file else None
    layer = load_yaml(path) if path else {}
    return _resolve_one(cls, args, layer, str(path))


def resolve_many(classes: tuple[type, ...], args: argparse.Namespace) -> list[Any]:
    """Several dataclasses from one parser (``add_fields`` once per class, ``--config`` once).

    The ``--config`` YAML is one flat mapping; each key goes to the class that has the field,
    and a key no class has raises naming it, the file and every valid key.
    """
    path = getattr(args, "config", None)
    layer = load_yaml(path) if path else {}
    owner = {f.name: cls for cls in classes for f in dataclasses.fields(cls)}
    for key in layer:
        if key not in owner:
            raise ConfigError(f"unknown key {key!r} in {path}; valid keys: {', '.join(owner)}")
    return [
        _resolve_one(cls, args, {k: v for k, v in layer.items() if owner[k] is cls}, str(path))[0]
        for cls in classes
    ]


def _resolve_one(
    cls: type, args: argparse.Namespace, layer: dict[str, Any], source: str
) -> tuple[Any, dict[str, str]]:
    """Defaults, then ``layer`` (from ``source``), then the flags of ``cls`` given in ``args``."""
    cfg = cls()
    sources = {f.name: "the default" for f in dataclasses.fields(cls)}
    given = {k: v for k, v in vars(args).items() if k in sources}
    if layer:
        apply_section(cfg, layer, source, cls.__name__)
        sources.update({k: source for k in layer})
    hints = typing.get_type_hints(cls)
    for name, value in given.items():
        if isinstance(value, list) and _field_type(hints[name]) is dict:
            value = key_values(value, flag_of(name).rstrip("s"))
        object.__setattr__(cfg, name, coerce(value, hints[name], flag_of(name)))  # see above
        sources[name] = CLI
    return cfg, sources


def check_rules(
    cfg: Any, rules: Mapping[str, Rule], sources: Mapping[str, str] | None = None
) -> None:
    """Raise one ``ConfigError`` line naming the first field that breaks its rule.

    The line names the flag, the value, where it came from and what it must be (the fix).
    Choices declared in a field's metadata are checked too, and every seed field's range
    (``is_seed_field``, ``check_seed``).
    """
    sources = sources or {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        choices = f.metadata.get("choices")
        where = sources.get(f.name, "the config")
        items = value if isinstance(value, list) else [value]
        if choices is not None and value is not None and any(v not in choices for v in items):
            raise ConfigError(
                f"{flag_of(f.name)} {value!r} (from {where}) is not valid; "
                f"choose from {', '.join(choices)}"
            )
        bad = [v for v in items if isinstance(v, float) and not math.isfinite(v)]
        if bad:  # NaN passes every ``v >= 0`` rule (all comparisons are False) and poisons sums
            raise ConfigError(f"{flag_of(f.name)} {bad[0]} (from {where}) must be a finite number")
        if is_seed_field(f.name) and value is not None:
            for item in items:
                check_seed(flag_of(f.name), item, where)
        rule = rules.get(f.name)
        if rule is not None and value is not None and not rule[0](value):
            raise ConfigError(f"{flag_of(f.name)} {value!r} (from {where}) must be {rule[1]}")


def from_args(cls: type, args: argparse.Namespace, config_file: bool = True) -> Any:
    """``resolve`` then ``check_rules`` with the class's ``RULES`` (none: choices only)."""
    cfg, sources = resolve(cls, args, config_file=config_file)
    check_rules(cfg, getattr(cls, "RULES", {}), sources)
    return cfg
