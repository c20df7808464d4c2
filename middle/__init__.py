"""middle: middle management for coding agents, as an Invoke plugin.

`from middle import hookimpl, step, StepContext` is all a step-plugin author needs.
"""

from middle.engine import StepContext, Workflow, branch, hookimpl, loop, step, wait_for
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

__all__ = [
    "AlreadyInFlight",
    "ConfigError",
    "DuplicateStepError",
    "MiddleError",
    "PluginError",
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
