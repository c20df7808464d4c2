"""The plugins every command loads: middle's own adapters, issue stores, steps and
workflows first, then installed packages and the repo's `.middle/plugins/` (see
`middle.engine.load_plugins`). The built-ins are imported when plugins are loaded, not
when this module is: a command that only reads runs does not pay for the steps."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from middle.engine import Plugins
from middle.engine import load_plugins as load_engine_plugins


def load_plugins(
    repo: Path | None = None,
    *,
    autoload: bool | None = None,
    extra: Iterable[tuple[object, str]] = (),
) -> Plugins:
    """middle's built-ins, installed plugins (unless autoload is off), the repo's own."""
    import middle.agents
    import middle.issues
    import middle.steps
    import middle.workflows

    builtins = (middle.agents, middle.issues, middle.steps, middle.workflows)
    return load_engine_plugins(repo, builtins=builtins, autoload=autoload, extra=extra)
