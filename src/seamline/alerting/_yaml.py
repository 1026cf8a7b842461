"""YAML with line numbers, and the list of problems a rules file has: the rules parser's helpers."""

from __future__ import annotations

from typing import Any

import yaml


class Map(dict[Any, Any]):
    """A YAML mapping that remembers the line of itself and of each key."""

    line: int = 0
    lines: dict[Any, int]


class Loader(yaml.SafeLoader):
    """A safe loader whose mappings carry their line numbers."""


def _construct_map(loader: Loader, node: yaml.MappingNode) -> Map:
    loader.flatten_mapping(node)
    out = Map()
    out.line = node.start_mark.line + 1
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)


class Problems:
    """Problems found so far, each worded with its line and field path."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: Map | None, key: Any, field_path: str, message: str) -> None:
        """Record one problem at the line of `key` in `where` (or of `where` itself)."""
        line = where.lines.get(key, where.line) if isinstance(where, Map) else 0
        self.items.append(f"  line {line}: {field_path}: {message}" if line else f"  {field_path}: {message}")
