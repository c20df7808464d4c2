"""One key of a config file changed in place: its comments, order and other lines stay
(tomlkit keeps the file's own text for everything it is not asked to change)."""

from __future__ import annotations

import tomllib
from collections.abc import MutableMapping
from typing import Any

import tomlkit

from middle.errors import ConfigError


def parse_value(text: str) -> Any:
    """`text` as a TOML value (`3`, `true`, `"15m"`, `["a", "b"]`); a bare word that is not
    TOML (`15m`, `claude`) is that word, as a string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def with_key(text: str, path: tuple[str, ...], value: Any) -> str:
    """`text` (a TOML document) with `path` (tables, then the key) set to `value`; the
    tables it names are added when missing. `ConfigError` if one holds a value instead."""
    document = tomlkit.parse(text)
    container: MutableMapping[str, Any] = document
    for depth, name in enumerate(path[:-1]):
        if name not in container:
            super_table = depth < len(path) - 2  # `[adapters.claude]`, not `[adapters]`
            container[name] = tomlkit.table(is_super_table=super_table)
        found = container[name]
        if not isinstance(found, MutableMapping):
            where = ".".join(path[: depth + 1])
            raise ConfigError(f"{where} = {found!r} is not a table; make it one to set {path[-1]}")
        container = found
    container[path[-1]] = value
    return tomlkit.dumps(document)
