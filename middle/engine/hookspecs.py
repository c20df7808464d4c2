"""The hooks middle calls on plugins (pluggy, project name `middle`).

Plugins import `hookimpl` from `middle` and implement any of these by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from middle.engine.registry import PluginRegistry
    from middle.engine.workflow import Workflow

PROJECT = "middle"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def middle_register_steps(registry: PluginRegistry) -> None:
    """Add steps with `registry.add(step)`."""


@hookspec
def middle_register_workflows(registry: PluginRegistry) -> None:
    """Add whole workflows with `registry.add_workflow(workflow)`."""


@hookspec
def middle_register_adapters(registry: PluginRegistry) -> None:
    """Add agent adapters with `registry.add_adapter(AdapterClass)`: a subclass of
    `middle.agents.BaseAdapter` whose `name` is how config and `--agent` call it."""


@hookspec
def middle_register_issue_stores(registry: PluginRegistry) -> None:
    """Add issue stores with `registry.add_issue_store(StoreClass)`: a class implementing
    `middle.issues.IssueStore` whose `mode` is what `[epic_store] mode` calls it."""


@hookspec
def middle_configure_workflow(workflow: Workflow) -> None:
    """Edit a registered workflow: `workflow.insert_after(existing, new)`, `insert_before`
    or `replace`. Called once per workflow, after every plugin has registered."""
