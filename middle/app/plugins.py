"""The plugins every command loads: middle's own adapters, issue stores, steps and
workflows first, then installed packages and the repo's `.middle/plugins/` (see
`middle.engine.load_plugins`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import middle.agents
import middle.issues
import middle.steps
import middle.workflows
from middle.engine import Plugins
from middle.engine import load_plugins as load_engine_plugins
from middle.issues import IssueStore

BUILTINS = (middle.agents, middle.issues, middle.steps, middle.workflows)


def load_plugins(
    repo: Path | None = None,
    *,
    autoload: bool | None = None,
    extra: Iterable[tuple[object, str]] = (),
) -> Plugins:
    """middle's built-ins, installed plugins (unless autoload is off), the repo's own."""
    return load_engine_plugins(repo, builtins=BUILTINS, autoload=autoload, extra=extra)


def open_issue_store(repo: Path, config: Mapping[str, Any] | None = None) -> IssueStore:
    """The repo's issue store, the one `[epic_store] mode` names among its plugins' (for a
    caller that holds no registry; one that does asks `registry.issue_store`)."""
    from middle.config import load_config, middle_home

    config = config if config is not None else load_config(middle_home(), repo)
    return load_plugins(repo).registry.issue_store(repo, config)
