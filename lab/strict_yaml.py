"""Strict, safe YAML for every file a user hands the project (configs, catalogs, search spaces).

``parse_yaml(text)``: ``yaml.SafeLoader`` (nothing executes, no Python tags) that also refuses
a key given twice in one mapping (YAML keeps the last one silently) and an alias bomb ("billion
laughs": a few lines whose aliases expand to billions of values). ``lab.config.load_yaml`` reads
files with it; ``lab.config`` re-exports ``parse_yaml``.
"""

from __future__ import annotations

import typing
from typing import Any

import yaml


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (YAML keeps the last
    one silently: ``seed: 1`` then ``seed: 2`` would train seed 2 without a word)."""


def _strict_mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
        if isinstance(key, typing.Hashable) and key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} given twice", key_node.start_mark
            )
        if isinstance(key, typing.Hashable):
            seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _strict_mapping)


def parse_yaml(text: str) -> Any:
    """YAML text -> data, safe and strict: no duplicate keys, at most ``MAX_YAML_NODES`` values
    once aliases are expanded (an alias bomb, "billion laughs", is a few lines that expand to
    billions of values in whoever walks the result)."""
    data = yaml.load(text, Loader=StrictLoader)  # noqa: S506  (a SafeLoader subclass)
    stack, seen = [data], 0
    while stack:  # aliases share objects, so this walk is the expanded size, stopped early
        node = stack.pop()
        seen += 1
        if seen > MAX_YAML_NODES:
            raise yaml.YAMLError(
                f"more than {MAX_YAML_NODES:,} values once its aliases (*name) are expanded "
                "(an alias bomb?); write the values out"
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return data


MAX_YAML_NODES = 100_000
