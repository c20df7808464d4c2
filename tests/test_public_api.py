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
