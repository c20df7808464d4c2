"""The `middle state export|import` use cases: the current checkout and `MIDDLE_HOME`
against a bundle on disk (see `middle.app.carry.transfer`)."""

from __future__ import annotations

from pathlib import Path

from middle.app.carry.bundle import StateBundle
from middle.app.carry.disk import read_bundle, write_bundle
from middle.app.carry.transfer import apply_import, export_state, prepare_import, select_workflows
from middle.app.home import open_home_db
from middle.app.repo import resolve_repo
from middle.config import middle_home
from middle.system import git


def export_to(
    repo: str | Path, path: str | Path, *, ref: str | None, workflow_id: str | None
) -> StateBundle:
    """Write the run's bundle to `path`; return it (its `warnings` say what it left out)."""
    root = git.repo_root(resolve_repo(repo))
    db = open_home_db()
    ids = select_workflows(db, repo=root, ref=ref, workflow_id=workflow_id)
    bundle = export_state(db, ids, home=middle_home(), repo=root)
    write_bundle(bundle, Path(path))
    return bundle


def import_from(repo: str | Path, path: str | Path) -> dict[str, int]:
    """Import the bundle at `path` into this machine's home, rebased onto this checkout.
    The bundle is checked whole before the home's database is opened."""
    root = git.repo_root(resolve_repo(repo))
    home = middle_home()
    carried = prepare_import(read_bundle(Path(path)), home=home, repo=root)
    return apply_import(open_home_db(home), carried, repo=root)
