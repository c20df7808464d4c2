"""Agent adapters: how middle launches, prompts and reads each agent CLI.

The built-in adapters register through the same hook as a plugin's
(`middle_register_adapters`), so a package or a repo's `.middle/plugins/` adds one the same way.
Every `BaseAdapter` subclass defined in a module of this package is a built-in: a new
built-in adapter is its module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pluggy

from middle.agents.base import (
    BaseAdapter,
    Screen,
    Signal,
    Stop,
    classify_stop,
    consume_sentinels,
)
from middle.agents.claude import ClaudeAdapter
from middle.agents.codex import CodexAdapter
from middle.agents.command import CommandAdapter


def _builtin_adapters() -> tuple[type[BaseAdapter], ...]:
    found: list[type[BaseAdapter]] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, BaseAdapter)
            and value is not BaseAdapter
            and value.__module__ == module.__name__
        ]
    return tuple(found)


BUILTIN_ADAPTERS = _builtin_adapters()

# pluggy matches hook implementations by project name: this is the same marker as
# `middle.hookimpl`, made here so the agents layer needs nothing from the engine above it.
_hookimpl = pluggy.HookimplMarker("middle")


@_hookimpl
def middle_register_adapters(registry: Any) -> None:
    for adapter in BUILTIN_ADAPTERS:
        registry.add_adapter(adapter)


__all__ = [
    "BUILTIN_ADAPTERS",
    "BaseAdapter",
    "ClaudeAdapter",
    "CodexAdapter",
    "CommandAdapter",
    "Screen",
    "Signal",
    "Stop",
    "classify_stop",
    "consume_sentinels",
]
