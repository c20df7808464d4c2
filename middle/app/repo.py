"""The repository a command acts on (`--repo`, default: the current directory)."""

from __future__ import annotations

from pathlib import Path

from middle.errors import RepoError


def resolve_repo(path: str | Path) -> Path:
    """`path` made absolute; `RepoError` if it is not a directory."""
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_dir():
        raise RepoError(f"--repo {path}: no such directory")
    return resolved
