"""Finding a package's built-ins: what its modules define at their top level.

middle's built-in steps, adapters and issue stores are found rather than listed, so a new
one is its module (or its function in a module), with nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any


def defined_in(package: str, path: Iterable[str], wanted: Callable[[Any], bool]) -> list[Any]:
    """Each top-level value of the modules of `package` (its `__path__` is `path`) and of
    its subpackages that `wanted` accepts and that module defines (not one it imports),
    in module order."""
    found: list[Any] = []
    modules = pkgutil.walk_packages(path, prefix=f"{package}.")
    for info in sorted(modules, key=lambda info: info.name):
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if _home(value) == module.__name__ and wanted(value) and value not in found:
                found.append(value)
    return found


def _home(value: Any) -> str | None:
    """The module that defined `value`: a class's or function's own, a step's function's."""
    if hasattr(value, "__qualname__"):  # classes and functions, not their instances
        return getattr(value, "__module__", None)
    return getattr(getattr(value, "fn", None), "__module__", None)
