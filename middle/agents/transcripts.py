"""Which transcript middle trusts, and where it keeps one when the worktree goes.

A run's transcript path comes from the agent's own hook, so it is whatever the agent
says: middle reads a transcript (to export it, upload it or keep it) only when the path
resolves, links followed, under a folder its adapter declares for the run's worktree
(`BaseAdapter.transcript_roots`), or is middle's own kept copy under the home.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from middle.agents.base import BaseAdapter

KEPT = "transcripts"  # $MIDDLE_HOME/transcripts/<workflow id>.jsonl


def kept_transcript(home: Path, workflow_id: str) -> Path:
    """Where middle keeps a run's transcript once its worktree is gone."""
    return home / KEPT / f"{workflow_id}.jsonl"


def transcript_root(path: Path, roots: Iterable[Path]) -> Path | None:
    """The root that `path` lies strictly under, if it is a plain absolute path (no `..`,
    no `.git`) under one of `roots`; None otherwise."""
    if not path.is_absolute() or {"..", ".git"} & set(path.parts):
        return None
    return next((root for root in roots if path != root and path.is_relative_to(root)), None)


def trusted_transcript(
    adapter: BaseAdapter, said: Path, worktree: Path | None, kept: Path | None = None
) -> Path | None:
    """`said`, resolved, if it lies under a folder `adapter` declares for `worktree`, or
    is exactly `kept` (middle's own copy, see `kept_transcript`); None otherwise."""
    resolved = said.resolve()
    if kept is not None and resolved == kept.resolve():
        return resolved
    roots = adapter.transcript_roots(worktree) if worktree is not None else ()
    found = transcript_root(resolved, [root.resolve() for root in roots])
    return resolved if found is not None else None
