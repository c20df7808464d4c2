"""middle's built-in steps, registered like any plugin's.

Every `@step` defined at the top level of a module of this package is registered, so a
new built-in step is its function (in a module here) plus its place in a workflow.
"""

from __future__ import annotations

from middle.discovery import defined_in
from middle.engine import Step, hookimpl
from middle.engine.registry import PluginRegistry


def builtin_steps() -> list[Step]:
    return defined_in(__name__, __path__, lambda value: isinstance(value, Step))


@hookimpl
def middle_register_steps(registry: PluginRegistry) -> None:
    for builtin in builtin_steps():
        registry.add(builtin)
