"""middle: middle management for coding agents, as an Invoke plugin.

`from middle import hookimpl, step, StepContext` is all a step-plugin author needs, and
`PluginRegistry` and `Workflow` type the hooks' arguments. The engine names load on first
use, so `middle --list` does not pay for the engine's imports.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from middle.errors import (
    AlreadyInFlight,
    ConfigError,
    DuplicateStepError,
    MiddleError,
    PluginError,
    RepoError,
    SignalTimeoutError,
    StepOutputError,
    StoreError,
    UnknownStepError,
    UnknownWorkflowError,
    WorkflowBusyError,
    WorkflowCancelled,
    WorkflowChangedError,
    WorkflowError,
)

if TYPE_CHECKING:
    from middle.engine.context import StepContext
    from middle.engine.hookspecs import hookimpl
    from middle.engine.registry import PluginRegistry
    from middle.engine.step import step
    from middle.engine.workflow import Workflow, branch, loop, wait_for

# Public name -> (module, name there). `PluginRegistry` is what the `middle_register_*`
# hooks receive: the registry bound to the plugin, so whatever it adds names the plugin.
_LAZY_NAMES = {
    "PluginRegistry": ("middle.engine.registry", "PluginRegistry"),
    **{
        name: ("middle.engine", name)
        for name in ("StepContext", "Workflow", "branch", "hookimpl", "loop", "step", "wait_for")
    },
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        module, attribute = _LAZY_NAMES[name]
        return getattr(import_module(module), attribute)
    raise AttributeError(f"module 'middle' has no attribute {name!r}")


__all__ = [
    "AlreadyInFlight",
    "ConfigError",
    "DuplicateStepError",
    "MiddleError",
    "PluginError",
    "PluginRegistry",
    "RepoError",
    "SignalTimeoutError",
    "StepContext",
    "StepOutputError",
    "StoreError",
    "UnknownStepError",
    "UnknownWorkflowError",
    "Workflow",
    "WorkflowBusyError",
    "WorkflowCancelled",
    "WorkflowChangedError",
    "WorkflowError",
    "branch",
    "hookimpl",
    "loop",
    "step",
    "wait_for",
]
__version__ = "0.1.0"
