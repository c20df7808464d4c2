"""The plugins every command loads: middle's own adapters, issue stores, steps and
workflows first, then installed packages and the repo's `.middle/plugins/` (see
`middle.engine.load_plugins`). The built-ins are imported when plugins are loaded, not
when this module is: a command that only reads runs does not pay for the steps."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from middle.engine import Plugins, hookimpl
from middle.engine import load_plugins as load_engine_plugins

if TYPE_CHECKING:
    from middle.engine.registry import PluginRegistry


def load_plugins(
    repo: Path | None = None,
    *,
    autoload: bool | None = None,
    extra: Iterable[tuple[object, str]] = (),
) -> Plugins:
    """middle's built-ins, installed plugins (unless autoload is off), the repo's own."""
    import middle.steps
    import middle.workflows

    builtins = (sys.modules[__name__], middle.steps, middle.workflows)
    return load_engine_plugins(repo, builtins=builtins, autoload=autoload, extra=extra)


# The layers under the engine (the agents, the issue stores) know nothing of pluggy: their
# built-ins register here, through the hooks a plugin's use. Reading a repo's issues (as
# `status` does) so never imports pluggy, a tenth of its start-up in a repository.


@hookimpl
def middle_register_adapters(registry: PluginRegistry) -> None:
    """middle's own agent adapters: every `BaseAdapter` subclass in `middle.agents`."""
    from middle.agents import BUILTIN_ADAPTERS

    for adapter in BUILTIN_ADAPTERS:
        registry.add_adapter(adapter)


@hookimpl
def middle_register_issue_stores(registry: PluginRegistry) -> None:
    """middle's own issue stores: every concrete `IssueStore` in `middle.issues`."""
    from middle.issues import BUILTIN_ISSUE_STORES

    for store in BUILTIN_ISSUE_STORES:
        registry.add_issue_store(store)
