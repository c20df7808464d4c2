"""The durable engine: steps, workflows, the runner, and the plugin registry.

The runner and the plugin machinery load on first use (they bring the adapters and issue
stores with them), so a command that only reads runs through `Runs` does not pay for them.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from middle.engine.context import StepContext
from middle.engine.hookspecs import hookimpl
from middle.engine.runstate import RunResult
from middle.engine.step import Step, step
from middle.engine.workflow import Branch, Loop, Wait, Workflow, branch, loop, wait_for

if TYPE_CHECKING:
    from middle.engine.plugins import Plugins, load_plugins
    from middle.engine.registry import Registry
    from middle.engine.runner import Runner

_LAZY_NAMES = {
    "Plugins": "middle.engine.plugins",
    "load_plugins": "middle.engine.plugins",
    "Registry": "middle.engine.registry",
    "Runner": "middle.engine.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY_NAMES:
        return getattr(import_module(_LAZY_NAMES[name]), name)
    raise AttributeError(f"module 'middle.engine' has no attribute {name!r}")


__all__ = [
    "Branch",
    "Loop",
    "Plugins",
    "Registry",
    "RunResult",
    "Runner",
    "Step",
    "StepContext",
    "Wait",
    "Workflow",
    "branch",
    "hookimpl",
    "load_plugins",
    "loop",
    "step",
    "wait_for",
]
