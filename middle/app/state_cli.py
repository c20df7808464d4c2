"""The `middle state export|import` use cases: the current checkout and `MIDDLE_HOME`
against a bundle on disk (see `middle.app.state`)."""

from __future__ import annotations

from pathlib import Path

from middle import git
from middle.app.home import open_home_db
from middle.app.repo import resolve_repo
from middle.app.state import export_state, import_state, read_bundle, select_workflows, write_bundle
from middle.config import middle_home


def export_to(
    repo: str | Path, path: str | Path, *, ref: str | None, workflow_id: str | None
) -> list[str]:
    """Write the run's bundle to `path`; return the workflow ids written."""
    root = git.repo_root(resolve_repo(repo))
    db = open_home_db()
    ids = select_workflows(db, repo=root, ref=ref, workflow_id=workflow_id)
    write_bundle(export_state(db, ids, home=middle_home(), repo=root), Path(path))
    return ids


def import_from(repo: str | Path, path: str | Path) -> dict[str, int]:
    """Import the bundle at `path` into this machine's home, rebased onto this checkout."""
    root = git.repo_root(resolve_repo(repo))
    bundle = read_bundle(Path(path))
    return import_state(open_home_db(), bundle, home=middle_home(), repo=root)
