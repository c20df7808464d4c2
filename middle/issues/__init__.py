"""Issue stores: where a repo's issues live, and how middle reads and writes them.

The built-in stores (file, GitHub) register through the same hook as a plugin's
(`middle_register_issue_stores`), so a package or a repo's `.middle/plugins/` adds one the
same way: a class implementing `IssueStore`, chosen by `[epic_store] mode`. Every concrete
`IssueStore` class defined in a module of this package is a built-in: a new one is its
module.
"""

from __future__ import annotations

import inspect
from typing import Any

import pluggy

from middle.discovery import defined_in
from middle.issues.base import Issue, IssueStore, ParkedRun, PollPass, PullRequest, Quota
from middle.issues.file_store import FileIssueStore
from middle.issues.github_store import GitHubIssueStore

BUILTIN_ISSUE_STORES: tuple[type[IssueStore], ...] = tuple(
    defined_in(
        __name__,
        __path__,
        lambda value: (
            isinstance(value, type)
            and IssueStore in value.__mro__[1:]  # a Protocol: no issubclass for it
            and not inspect.isabstract(value)
        ),
    )
)

# pluggy matches hook implementations by project name: this is the same marker as
# `middle.hookimpl`, made here so the issues layer needs nothing from the engine above it.
_hookimpl = pluggy.HookimplMarker("middle")


@_hookimpl
def middle_register_issue_stores(registry: Any) -> None:
    for store in BUILTIN_ISSUE_STORES:
        registry.add_issue_store(store)


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
]
