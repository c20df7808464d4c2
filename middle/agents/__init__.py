"""Agent adapters: how middle launches, prompts and reads each agent CLI.

The built-in adapters register through the same hook as a plugin's
(`middle_register_adapters`, implemented for them in `middle.app.plugins`), so a package
or a repo's `.middle/plugins/` adds one the same way.
Every `BaseAdapter` subclass defined in a module of this package is a built-in: a new
built-in adapter is its module.
"""

from __future__ import annotations

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
from middle.discovery import defined_in

BUILTIN_ADAPTERS: tuple[type[BaseAdapter], ...] = tuple(
    defined_in(
        __name__,
        __path__,
        lambda value: (
            isinstance(value, type) and issubclass(value, BaseAdapter) and value is not BaseAdapter
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
