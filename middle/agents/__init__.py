"""Agent adapters: how middle launches, prompts and reads each agent CLI.

The built-in adapters register through the same hook as a plugin's
(`middle_register_adapters`, implemented for them in `middle.app.plugins`), so a package
or a repo's `.middle/plugins/` adds one the same way.
Every `BaseAdapter` subclass defined in a module of this package is a built-in: a new
built-in adapter is its module.

The names below load on first use, so `python -m middle.agents.standin` (the stand-in
agent, which needs none of them) starts without importing every adapter.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
    from middle.agents.copilot import CopilotAdapter
    from middle.agents.gemini import GeminiAdapter

    BUILTIN_ADAPTERS: tuple[type[BaseAdapter], ...]

_HOMES = {
    **dict.fromkeys(
        ("BaseAdapter", "Screen", "Signal", "Stop", "classify_stop", "consume_sentinels"),
        "middle.agents.base",
    ),
    "ClaudeAdapter": "middle.agents.claude",
    "CodexAdapter": "middle.agents.codex",
    "CommandAdapter": "middle.agents.command",
    "CopilotAdapter": "middle.agents.copilot",
    "GeminiAdapter": "middle.agents.gemini",
}


def __getattr__(name: str) -> Any:
    if name == "BUILTIN_ADAPTERS":
        value: Any = _builtin_adapters()
    elif name in _HOMES:
        value = getattr(import_module(_HOMES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


@cache
def _builtin_adapters() -> tuple[Any, ...]:
    """Every `BaseAdapter` subclass defined in a module of this package."""
    from middle.agents.base import BaseAdapter
    from middle.discovery import defined_in

    return tuple(
        defined_in(
            __name__,
            __path__,
            lambda value: (
                isinstance(value, type)
                and issubclass(value, BaseAdapter)
                and value is not BaseAdapter
            ),
        )
    )


__all__ = [
    "BUILTIN_ADAPTERS",
    "BaseAdapter",
    "ClaudeAdapter",
    "CodexAdapter",
    "CommandAdapter",
    "CopilotAdapter",
    "GeminiAdapter",
    "Screen",
    "Signal",
    "Stop",
    "classify_stop",
    "consume_sentinels",
]
