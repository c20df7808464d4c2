"""The plugin author's import surface stays small, sorted and complete."""

from __future__ import annotations

import subprocess
import sys

import middle
import middle.store
from middle.engine import hookspecs


def isort_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps `__all__` in: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists() -> None:
    for module in (middle, middle.store):
        assert module.__all__ == sorted(module.__all__, key=isort_order)
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == []


def test_every_hook_argument_type_is_exported_without_loading_the_engine() -> None:
    """A plugin types its hooks from `middle` alone. `PluginRegistry` is the public name of
    what the `middle_register_*` hooks receive (the engine's `PluginRegistry`).
    Importing `middle` loads no engine module, so `middle --list` stays cheap: checked in a
    subprocess, since this one has loaded the engine."""
    exported = {
        getattr(middle, name).__name__
        for name in middle.__all__
        if isinstance(getattr(middle, name), type)
    }
    hooks = [fn for name, fn in vars(hookspecs).items() if name.startswith("middle_")]
    hints = {hint for fn in hooks for arg, hint in fn.__annotations__.items() if arg != "return"}
    assert hints and hints <= exported

    probe = "import sys, middle; print(sorted(m for m in sys.modules if m.startswith('middle')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.stdout.split() == ["['middle',", "'middle.errors']"], loaded.stderr


PUBLIC_NAMES = [
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

HOOKSPECS = {
    "middle_register_steps": ["registry"],
    "middle_register_workflows": ["registry"],
    "middle_register_adapters": ["registry"],
    "middle_register_issue_stores": ["registry"],
    "middle_configure_workflow": ["workflow"],
}


def test_the_plugin_authors_surface_is_what_it_was() -> None:
    """Moving modules (issue 25) changes no public name, no hook and no hook argument, and
    plugins are still found under the entry-point group `middle`. Seen red with a hook
    argument renamed in `hookspecs.py`."""
    import inspect

    from middle.engine import plugins

    assert middle.__all__ == PUBLIC_NAMES
    hooks = {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if name.startswith("middle_")
    }
    assert hooks == HOOKSPECS
    assert (hookspecs.PROJECT, plugins.ENTRY_POINT_GROUP) == ("middle", "middle")
    assert plugins.AUTOLOAD_OFF_ENV == "MIDDLE_DISABLE_PLUGIN_AUTOLOAD"


def test_the_entry_points_name_what_they_always_named() -> None:
    """The `middle` console script is `middle.cli:main` and the pytest plugin
    `middle.testing`, as installed copies and users' setups know them; each resolves to
    what it names. Seen red with the script pointed at `middle.cli.program:main`."""
    import importlib
    import tomllib

    from tests.conftest import REPO_ROOT

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"middle": "middle.cli:main"}
    assert project["entry-points"]["pytest11"] == {"middle": "middle.testing"}
    module, _, name = project["scripts"]["middle"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))
    assert hasattr(importlib.import_module("middle.testing"), "middle_harness")


def test_middle_tasks_ns_is_the_collection_the_middle_command_runs() -> None:
    """A project's `tasks.py` mounts `middle.tasks.ns` (the README's two ways): it is the
    collection of `middle.cli.tasks`, which the `middle` console script runs. Seen red before
    `middle/tasks.py` was left behind as its re-export (ModuleNotFoundError)."""
    import middle.cli
    import middle.cli.tasks
    import middle.tasks
    from middle.tasks import ns

    assert ns is middle.tasks.ns is middle.cli.tasks.ns is middle.cli.program.namespace
    assert {"implement", "status", "ci-job", "dashboard", "serve"} <= set(ns.task_names)
