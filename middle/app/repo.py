"""The repository a command acts on (`--repo`, default: the current directory)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from middle.errors import RepoError
from middle.system import git


def resolve_repo(path: str | Path) -> Path:
    """`path` made absolute; `RepoError` if it is not a directory."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise RepoError(f"--repo {path}: no such directory")
    return resolved


def base_branch(config: Mapping[str, Any], root: Path) -> str:
    """The branch a run starts from: `[repo] default_branch` if set (the reference's key),
    else the branch checked out at `root`. `RepoError` if the configured one is not here."""
    configured = config["repo"].get("default_branch")
    if not configured:
        return git.current_branch(root)
    if not git.branch_exists(root, configured):
        raise RepoError(
            f"[repo] default_branch = {configured!r}: no such branch in {root}; "
            "create or fetch it, or remove the key to start from the checked-out branch"
        )
    return str(configured)
