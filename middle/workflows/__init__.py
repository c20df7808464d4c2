"""middle's built-in workflows, registered like any plugin's."""

from __future__ import annotations

from middle.engine import hookimpl
from middle.engine.registry import PluginRegistry
from middle.workflows.documentation import documentation_workflow
from middle.workflows.epic import epic_child_workflow, epic_workflow
from middle.workflows.implementation import implementation_workflow
from middle.workflows.recommender import recommender_workflow


@hookimpl
def middle_register_workflows(registry: PluginRegistry) -> None:
    registry.add_workflow(implementation_workflow())
    registry.add_workflow(recommender_workflow())
    registry.add_workflow(documentation_workflow())
    registry.add_workflow(epic_workflow())
    registry.add_workflow(epic_child_workflow())
