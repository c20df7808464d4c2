"""`uninit`: take out of a repository exactly what `middle init` put in, as its record
(`.middle/init.json`, see `init.py`) says. A file the user changed since is theirs and
stays, and the line says so. middle's state home (runs, branches, worktrees) is never
touched; a repository with live runs is refused unless forced."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from middle.app.configure.init import MANIFEST, digest, read_manifest
from middle.app.repo import resolve_repo
from middle.config import db_path, middle_home
from middle.errors import RepoError
from middle.system import git


def uninit_repo(repo: str | Path, *, dry_run: bool = False, force: bool = False) -> list[str]:
    """Remove what init recorded; one line per thing removed ("would remove ..." with
    `dry_run`, which changes nothing) or kept."""
    root = git.repo_root(resolve_repo(repo))
    if not force:
        refuse_live_runs(root)
    if not (root / MANIFEST).exists():
        return [f"nothing to remove: {MANIFEST} (what middle init wrote here) is missing"]
    manifest = read_manifest(root)
    removed = "would remove" if dry_run else "removed"
    lines = []
    for path, recorded in sorted(manifest["files"].items()):
        file = _inside(root, path)
        if file is None:
            lines.append(f"skipped {path}: {MANIFEST} names a path outside the repository")
            continue
        if not file.is_file():
            continue
        if digest(file.read_bytes()) != recorded:
            lines.append(f"kept {path}: it changed since middle init wrote it")
            continue
        if not dry_run:
            file.unlink()
        lines.append(f"{removed} {path}")
    if "gitignore" in manifest:
        lines += _restore_gitignore(root, manifest["gitignore"], dry_run=dry_run)
    if not dry_run:
        (root / MANIFEST).unlink()
        for folder in sorted(manifest["dirs"], key=lambda d: d.count("/"), reverse=True):
            path = _inside(root, folder)
            if path is not None and path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    lines.append(f"{removed} {MANIFEST}")
    return lines


def refuse_live_runs(root: Path) -> None:
    """`RepoError` if runs of this repository are live: their worktrees read its policy."""
    if not db_path(middle_home()).exists():
        return  # no database: no runs (and none made here)
    from middle.app.home import open_home_db
    from middle.store import live_counts_by_repo

    db = open_home_db()
    try:
        live = live_counts_by_repo(db).get(str(root), 0)
    finally:
        db.close()
    if live:
        raise RepoError(
            f"{root} has {live} live run(s); cancel them first (middle status lists them), "
            f"or run middle uninit --force"
        )


def _restore_gitignore(root: Path, record: dict[str, Any], *, dry_run: bool) -> list[str]:
    """Take out each block init appended (the newest first); delete the file if init
    created it and nothing else is left. A block someone edited keeps the whole file."""
    gitignore = root / ".gitignore"
    if not gitignore.is_file():
        return []
    text = original = gitignore.read_text()
    for chunk in reversed(record["appended"]):
        head, found, tail = text.rpartition(chunk)
        if not found:
            return ["kept .gitignore as it is: its middle lines changed since middle init "
                    "added them; remove them by hand"]  # fmt: skip
        text = head + tail
    removed = "would remove" if dry_run else "removed"
    if record["created"] and not text:
        if not dry_run:
            gitignore.unlink()
        return [f"{removed} .gitignore"]
    if not dry_run and text != original:
        gitignore.write_text(text)
    return [f"{removed} middle's lines from .gitignore"]


def _inside(root: Path, path: str) -> Path | None:
    """`root / path` if `path` is a plain relative path that stays in the repository, links
    followed; None otherwise. The record is a committed file, so anyone who can push may
    have written it: uninit never removes anything outside the checkout."""
    relative = Path(path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        return None
    target = root / relative
    return target if target.resolve().is_relative_to(root.resolve()) else None
