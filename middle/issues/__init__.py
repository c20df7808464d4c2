"""Issue stores: where a repo's issues live, and how middle reads and writes them.

The built-in stores (file, GitHub) register through the same hook as a plugin's
(`middle_register_issue_stores`, implemented for them in `middle.app.plugins`), so a
package or a repo's `.middle/plugins/` adds one the same way: a class implementing
`IssueStore`, chosen by `[epic_store] mode`. Every concrete `IssueStore` class defined in a
module of this package is a built-in: a new one is its module. This package does not
import pluggy: `status` reads a file-mode repo's issues without it.
"""

from __future__ import annotations

import importlib
import inspect
from typing import TYPE_CHECKING, Any

from middle.discovery import defined_in
from middle.issues.base import Issue, IssueStore

if TYPE_CHECKING:  # at run time each module loads when first asked for (below)
    from middle.issues.file_store import FileIssueStore
    from middle.issues.github_store import GitHubIssueStore
    from middle.issues.polling import ParkedRun, PollPass, PullRequest, Quota

    BUILTIN_ISSUE_STORES: tuple[type[IssueStore], ...]

_LAZY = {
    "FileIssueStore": "file_store",
    "GitHubIssueStore": "github_store",
    **dict.fromkeys(("ParkedRun", "PollPass", "PullRequest", "Quota"), "polling"),
}


def __getattr__(name: str) -> Any:
    """The stores and the poll's records load only when asked for: `status` in a
    file-mode repo needs none of the GitHub store's modules (a fifth of its start-up)."""
    if name == "BUILTIN_ISSUE_STORES":
        found = globals()[name] = tuple(defined_in(__name__, __path__, _is_store))
        return found
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _is_store(value: Any) -> bool:
    return (
        isinstance(value, type)
        and IssueStore in value.__mro__[1:]  # a Protocol: no issubclass for it
        and not inspect.isabstract(value)
    )


def builtin_issue_store(mode: str) -> type[IssueStore] | None:
    """The built-in store of `[epic_store] mode`, or None. Looked for first in the module
    named for the mode (`file_store.py` for "file"), so only that one loads; any other
    built-in is still found, by loading them all."""
    try:
        module = importlib.import_module(f"{__name__}.{mode}_store")
    except ImportError:
        module = None
    if module is not None:
        for value in vars(module).values():
            if _is_store(value) and value.__module__ == module.__name__ and value.mode == mode:
                return value  # type: ignore[no-any-return]
    builtins: tuple[type[IssueStore], ...] = __getattr__("BUILTIN_ISSUE_STORES")
    return {store.mode: store for store in builtins}.get(mode)


__all__ = [
    "BUILTIN_ISSUE_STORES",
    "FileIssueStore",
    "GitHubIssueStore",
    "Issue",
    "IssueStore",
    "ParkedRun",
    "PollPass",
    "PullRequest",
    "Quota",
    "builtin_issue_store",
]
