"""Issue refs and the names derived from them (branch, tmux session, worktree folder)."""

from __future__ import annotations

import re
from pathlib import Path

from middle.errors import InvalidRefError

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_ref(ref: str) -> str:
    """`ref` if it is a GitHub number or an Epic slug; `InvalidRefError` otherwise.

    The pattern keeps refs safe everywhere they are used: in paths (no separators, no
    leading dot), branch names and tmux session names.
    """
    if not _REF.fullmatch(ref) or ".." in ref or ref.endswith((".", ".lock")):
        raise InvalidRefError(
            f"--issue {ref!r} is not a valid ref; use an issue number or an Epic slug "
            f"(letters, digits, '.', '_' and '-', starting with a letter or digit)"
        )
    return ref


def repo_slug(repo: Path) -> str:
    """A short name for the repo, safe in paths and tmux session names."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", repo.name) or "repo"


def branch_name(ref: str) -> str:
    return f"middle/issue-{ref}"


def session_name(repo: Path, ref: str) -> str:
    # tmux treats '.' and ':' as target separators
    return f"middle-{repo_slug(repo)}-{ref.replace('.', '_')}"
