"""middle's built-in steps, registered like any plugin's.

Every `@step` defined at the top level of a module of this package is registered, so a
new built-in step is its function (in a module here) plus its place in a workflow.
"""

from __future__ import annotations

import importlib
import pkgutil

from middle.engine import Step, hookimpl
from middle.engine.registry import OriginBoundRegistry


def builtin_steps() -> list[Step]:
    """The steps defined in this package's modules, each once (modules import each
    other's steps), in module order."""
    found: dict[int, Step] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Step) and value.fn.__module__ == module.__name__:
                found.setdefault(id(value), value)
    return list(found.values())


@hookimpl
def middle_register_steps(registry: OriginBoundRegistry) -> None:
    for builtin in builtin_steps():
        registry.add(builtin)
