"""`middle state export/import`: everything a run needs to continue on another machine.

A *state bundle* is a JSON document (`state.json`: format name and version, where it was
exported from, the run's rows, and a manifest of its files) plus the agent CLI's session
transcript as bytes (`middle.app.carry.bundle`). It is written as a directory or a single
`.json` file (`middle.app.carry.disk`), or as a commit on `refs/middle/state/<n>`
(`middle.app.carry.ref`).

Export carries a transcript only from where the run's adapter declares its CLI keeps
transcripts (`BaseAdapter.transcript_roots`): the path comes from the agent's own hook, so
a path anywhere else (`~/.ssh/id_ed25519`, say) is left out, with a warning. It carries no
session token.

Import treats the bundle as untrusted: it is checked whole (`check_bundle`), its rows are
carried over with every path rebuilt here (`middle.app.carry.rows`), and then it is one
transaction: the rows are written, each live run's worktree is checked out from its branch
and each transcript restored, and if any of that fails, none of it is left (no row, no
worktree, no branch it fetched, no file).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from functools import cache
from pathlib import Path

from sqlite_utils import Database

from middle.agents.base import BaseAdapter
from middle.agents.transcripts import kept_transcript, trusted_transcript
from middle.app.carry.bundle import (
    FORMAT,
    SESSION_ID,
    TRANSCRIPTS,
    VERSION,
    StateBundle,
    check_bundle,
    manifest,
)
from middle.app.carry.rows import AdapterOf, Carried, Transcript, Worktree, carry
from middle.app.runtime import Runtime
from middle.errors import GitError, MiddleError, StateFormatError, UnknownWorkflowError
from middle.refs import validate_ref
from middle.store import (
    TERMINAL_STATES,
    Row,
    export_run_rows,
    find_live_implementation,
    get_workflow,
    import_run_rows,
    list_workflows,
    utcnow,
)
from middle.system import git
from middle.system.files import write_private

Undo = list[Callable[[], None]]


def select_workflows(
    db: Database, *, repo: Path | None, ref: str | None, workflow_id: str | None
) -> list[str]:
    """The workflow to export: by id, or the issue's newest (its live one if it has one)."""
    if workflow_id:
        return [get_workflow(db, workflow_id)["id"]]
    if ref is None:
        raise MiddleError("say which run: --issue REF or --workflow ID")
    rows = list_workflows(db, repo=str(repo), epic_ref=validate_ref(ref))
    if not rows:
        raise MiddleError(f"issue {ref} in {repo} has no workflow to export; see: middle status")
    live = [row for row in rows if row["state"] not in ("completed", "cancelled", "failed")]
    return [(live or rows)[-1]["id"]]


def adapters(home: Path, repo: Path) -> AdapterOf:
    """The adapter of each name, as a run in `repo` gets it; the config and plugins are
    loaded only if one is asked for."""
    runtime: list[Runtime] = []

    @cache
    def adapter_of(name: str) -> BaseAdapter:
        if not runtime:
            runtime.append(Runtime(repo, home=home))
        return runtime[0].plugins.adapter(name, runtime[0].config)

    return adapter_of


# -- export -------------------------------------------------------------------------------


def with_children(db: Database, workflow_ids: list[str]) -> list[str]:
    """The workflows and each one's children (a fanned-out Epic's), parents first."""
    found: list[str] = []
    for run in workflow_ids:
        row = get_workflow(db, run)
        if row["parent_id"] and row["parent_id"] not in workflow_ids:
            raise MiddleError(
                f"workflow {run} is a child of the fanned-out Epic run {row['parent_id']}, "
                f"which carries it: export that one (middle state export --workflow "
                f"{row['parent_id']})"
            )
        found.append(run)
        found += [child["id"] for child in list_workflows(db, parent_id=run)]
    return list(dict.fromkeys(found))


def export_state(
    db: Database, workflow_ids: list[str], *, home: Path, repo: Path,
    adapter_of: AdapterOf | None = None,
) -> StateBundle:  # fmt: skip
    """The bundle for the workflows: their rows, their transcripts, and where they lived.
    A fanned-out Epic's run travels with its children, and a child only with its Epic."""
    adapter_of = adapter_of or adapters(home, repo)
    tables = export_run_rows(db, with_children(db, workflow_ids))
    files: dict[str, bytes] = {}
    warnings: list[str] = []
    worktrees: dict[str, str | None] = {}
    for row in tables["workflows"]:
        if row["kind"] != "implementation":
            raise MiddleError(
                f"workflow {row['id']} is a {row['kind']} run; only an implementation run's "
                f"state can be carried to another machine"
            )
        worktrees[row["id"]] = row["worktree_path"]
        row["session_token"] = None  # this machine's hook channel; an import makes its own
        if row["session_id"] and not SESSION_ID.fullmatch(row["session_id"]):
            warnings.append(
                f"workflow {row['id']}'s agent session id {row['session_id']!r} is not "
                f"exported (it could be read as an option): the next turn starts a new session"
            )
            row["session_id"] = None
        data, warning = read_transcript(row, adapter_of, home)
        if data is not None:
            files[f"{TRANSCRIPTS}/{row['id']}"] = data
        if warning is not None:
            warnings.append(warning)
            row["transcript_path"] = None
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "exported_at": utcnow(),
        "origin": {
            "home": str(home),
            "repo": str(repo),
            "user_home": str(Path.home()),
            "worktrees": worktrees,
        },
        "tables": tables,
        "manifest": manifest(files),
    }
    return StateBundle(doc, files, warnings)


def read_transcript(
    row: Row, adapter_of: AdapterOf, home: Path | None = None
) -> tuple[bytes | None, str | None]:
    """The run's transcript, if it resolves (links followed) under a folder its adapter
    declares for its worktree, or is middle's kept copy under `home`; else a warning
    saying why it is left out."""
    if not row["transcript_path"]:
        return None, None
    said = Path(row["transcript_path"])
    try:
        adapter = adapter_of(str(row["adapter"]))
    except MiddleError as exc:
        return None, f"workflow {row['id']}'s transcript is not exported: {exc}"
    worktree = Path(row["worktree_path"]) if row["worktree_path"] else None
    kept = kept_transcript(home, str(row["id"])) if home is not None else None
    trusted = trusted_transcript(adapter, said, worktree, kept)
    if trusted is None:
        roots = adapter.transcript_roots(worktree) if worktree is not None else ()
        where = " or ".join(map(str, roots)) or "(no worktree)"
        return None, (
            f"workflow {row['id']}'s transcript {said} is not exported: it is not under "
            f"{where}, where the {adapter.name} adapter keeps transcripts"
        )
    try:
        return trusted.read_bytes(), None
    except FileNotFoundError:
        return None, None  # not written yet: the path travels, the agent starts afresh
    except OSError as exc:
        return None, f"workflow {row['id']}'s transcript {said} is not exported: {exc.strerror}"


# -- import -------------------------------------------------------------------------------


def prepare_import(
    bundle: StateBundle, *, home: Path, repo: Path, adapter_of: AdapterOf | None = None
) -> Carried:
    """The bundle, checked and carried onto this machine; nothing is written yet."""
    check_bundle(bundle.doc, bundle.files, bundle.source)
    return carry(bundle, home=home, repo=repo, adapter_of=adapter_of or adapters(home, repo))


def import_state(
    db: Database, bundle: StateBundle, *, home: Path, repo: Path, worktrees: bool = True,
    adapter_of: AdapterOf | None = None,
) -> dict[str, int]:  # fmt: skip
    """Check the bundle, rebuild its paths here, write its rows (idempotently), rebuild
    each live run's worktree from its branch (unless `worktrees=False`) and restore each
    transcript, all or nothing; return how many rows each table gained."""
    carried = prepare_import(bundle, home=home, repo=repo, adapter_of=adapter_of)
    return apply_import(db, carried, repo=repo, worktrees=worktrees)


def apply_import(
    db: Database, carried: Carried, *, repo: Path, worktrees: bool = True
) -> dict[str, int]:
    """Write the carried rows and put their worktrees and transcripts in place, as one
    transaction: a failure anywhere undoes what was done on disk, and no row is written."""
    for row in carried.tables.get("workflows", []):
        check_same_run(db, row)
    undo: Undo = []

    def place() -> None:
        for worktree in carried.worktrees if worktrees else []:
            rebuild_worktree(repo, worktree, undo)
        for transcript in carried.transcripts:
            restore_transcript(transcript, undo)

    try:
        return import_run_rows(db, carried.tables, then=place)
    except BaseException as exc:
        for step in reversed(undo):
            with contextlib.suppress(Exception):
                step()
        if isinstance(exc, sqlite3.IntegrityError):
            raise _refused_rows(db, carried, exc) from exc
        raise


def check_same_run(db: Database, row: Row) -> None:
    """A workflow id this home already has must be the same run (its newer or older copy),
    not another issue's."""
    try:
        here = get_workflow(db, row["id"])
    except UnknownWorkflowError:
        return
    if (here["repo"], here["epic_ref"]) != (row["repo"], row["epic_ref"]):
        raise StateFormatError(
            f"cannot import workflow {row['id']}: this home has a run of that id for issue "
            f"{here['epic_ref']} in {here['repo']}, not for issue {row['epic_ref']} in "
            f"{row['repo']}; import into a fresh MIDDLE_HOME"
        )


def _refused_rows(db: Database, carried: Carried, exc: sqlite3.IntegrityError) -> StateFormatError:
    """Say which constraint refused the rows: a live run of the issue here, or another."""
    for row in carried.tables.get("workflows", []):
        if row["state"] in TERMINAL_STATES:
            continue
        live = find_live_implementation(db, repo=row["repo"], epic_ref=row["epic_ref"])
        if live is not None and live["id"] != row["id"]:
            return StateFormatError(
                f"cannot import workflow {row['id']}: this home already has a live run of "
                f"issue {row['epic_ref']} ({live['id']}, {live['state']}); end it with "
                f"`middle cancel --issue {row['epic_ref']}`, or import into a fresh MIDDLE_HOME"
            )
    ids = ", ".join(row["id"] for row in carried.tables.get("workflows", []))
    return StateFormatError(
        f"cannot import workflow {ids}: the database refused a row ({exc}); nothing was imported"
    )


def rebuild_worktree(repo: Path, worktree: Worktree, undo: Undo) -> None:
    """Check the run's branch out at its worktree, fetching the branch from origin if this
    clone lacks it. A no-op when the worktree is there. What it makes, `undo` removes."""
    if (worktree.path / ".git").exists():
        return
    had_branch = git.branch_exists(repo, worktree.branch)
    if not had_branch:
        fetch_branch(repo, worktree.branch)
        undo.append(lambda: _delete_branch(repo, worktree.branch))
    made = _missing_dirs(worktree.path.parent)
    undo.append(lambda: _remove_empty(made))
    git.add_worktree(repo, worktree.path, worktree.branch, worktree.base)
    undo.append(lambda: git.remove_worktree(repo, worktree.path))
    git.ignore_middle_files(repo)


def fetch_branch(repo: Path, branch: str) -> bool:
    """Fetch `branch` from origin into the local branch; False if origin has none. Its
    head is what middle has seen there: the one its push may rewrite (`git.push_branch`)."""
    try:
        git.git("fetch", "--quiet", "--no-tags", "origin",
                f"+refs/heads/{branch}:refs/heads/{branch}", cwd=repo)  # fmt: skip
    except GitError as exc:
        if "couldn't find remote ref" in str(exc) or "does not appear" in str(exc):
            return False
        raise
    git.mark_seen(repo, branch, git.git("rev-parse", "--verify", f"refs/heads/{branch}", cwd=repo))
    return True


def _delete_branch(repo: Path, branch: str) -> None:
    if git.branch_exists(repo, branch):
        git.git("branch", "-D", branch, cwd=repo)  # a validated middle/issue-<ref>
    git.forget_seen(repo, branch)


def restore_transcript(transcript: Transcript, undo: Undo) -> None:
    """Write the transcript at its place under its root, creating the folders between
    (0700), refusing a link on the way; `undo` puts back what was there."""
    made = _missing_dirs(transcript.path.parent)
    undo.append(lambda: _remove_empty(made))
    folder = transcript.root
    for part in transcript.path.parent.relative_to(transcript.root).parts:
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise StateFormatError(
                f"cannot restore the transcript at {transcript.path}: {folder} is a link or "
                f"a file; remove it, or import into a fresh MIDDLE_HOME"
            )
    transcript.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = transcript.path
    previous = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    if previous == transcript.data:
        return
    write_private(path, transcript.data)
    if previous is None:
        undo.append(lambda: path.unlink(missing_ok=True))
    else:
        undo.append(lambda: write_private(path, previous))


def _missing_dirs(path: Path) -> list[Path]:
    """The folders from the first missing ancestor of `path` down to it."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()
