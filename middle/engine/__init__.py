"""The durable engine: steps, workflows, the runner, and the plugin registry."""

from middle.engine.context import StepContext
from middle.engine.hookspecs import hookimpl
from middle.engine.plugins import Plugins, load_plugins
from middle.engine.registry import Registry
from middle.engine.runner import Runner
from middle.engine.runstate import RunResult
from middle.engine.step import Step, step
from middle.engine.workflow import Branch, Loop, Wait, Workflow, branch, loop, wait_for

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
