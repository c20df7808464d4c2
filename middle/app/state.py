"""`middle state export/import`: everything a run needs to continue on another machine.

A *state bundle* is a JSON document (`state.json`: format name and version, where it was
exported from, the run's rows) plus the agent CLI's session transcript as bytes. It is
written three ways, all holding the same files:

- a directory: `state.json` and `transcripts/<workflow id>` (any CI's artifact or cache);
- a single `.json` file: the document with the transcripts inside, base64-encoded;
- a git commit on `refs/middle/state/<n>` (see `middle.app.stateref`).

Paths inside rows belong to the machine that wrote them. Import rebases them: the old
checkout becomes the current one, the old `MIDDLE_HOME` the current one, each old worktree
the path middle would give it here, and Claude Code's per-project session folder (named
after the worktree) follows the worktree. The transcript is restored where the rebased
`transcript_path` says, which is where the agent CLI looks for the session to resume.
"""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from middle import git
from middle.engine.runs import Runs
from middle.errors import GitError, MiddleError, StateFormatError
from middle.refs import validate_ref
from middle.steps.dispatch import worktree_path
from middle.store import (
    TERMINAL_STATES,
    Row,
    encode_event_payload,
    export_run_rows,
    get_workflow,
    import_run_rows,
    list_workflows,
    utcnow,
)

FORMAT = "middle-state"
VERSION = 1
DOCUMENT = "state.json"
JSON_COLUMNS = ("meta_json", "output_json", "payload_json")


@dataclass
class StateBundle:
    doc: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def workflow_ids(self) -> list[str]:
        return [row["id"] for row in self.doc.get("tables", {}).get("workflows", [])]


# -- export -------------------------------------------------------------------------------


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


def export_state(db: Database, workflow_ids: list[str], *, home: Path, repo: Path) -> StateBundle:
    """The bundle for the workflows: their rows, their transcripts, and where they lived."""
    tables = export_run_rows(db, workflow_ids)
    files: dict[str, bytes] = {}
    worktrees: dict[str, str | None] = {}
    for row in tables["workflows"]:
        worktrees[row["id"]] = row["worktree_path"]
        transcript = Path(row["transcript_path"]) if row["transcript_path"] else None
        if transcript is not None and transcript.is_file():
            files[f"transcripts/{row['id']}"] = transcript.read_bytes()
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
    }
    return StateBundle(doc, files)


# -- import -------------------------------------------------------------------------------


def import_state(
    db: Database, bundle: StateBundle, *, home: Path, repo: Path, worktrees: bool = True
) -> dict[str, int]:
    """Rebase the bundle's paths onto this machine, write its rows (idempotently), rebuild
    each live run's worktree from its branch (unless `worktrees=False`), and restore each
    transcript; return how many rows each table gained."""
    check_format(bundle.doc)
    rebase = path_rebaser(bundle.doc, home=home, repo=repo)
    tables = {
        name: [rebase_row(row, rebase) for row in rows]
        for name, rows in bundle.doc.get("tables", {}).items()
    }
    try:
        added = import_run_rows(db, tables)
    except sqlite3.IntegrityError as exc:  # the one-live-implementation index, say
        ids = ", ".join(row["id"] for row in tables.get("workflows", []))
        raise StateFormatError(
            f"cannot import workflow {ids} here ({exc}): this home already has another live "
            f"run of that issue; end it with `middle cancel`, or import into a fresh MIDDLE_HOME"
        ) from exc
    for row in tables.get("workflows", []):
        if worktrees and row["state"] not in TERMINAL_STATES:
            rebuild_worktree(repo, row)
        data = bundle.files.get(f"transcripts/{row['id']}")
        if data is not None and row.get("transcript_path"):
            target = Path(row["transcript_path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists() or target.read_bytes() != data:
                target.write_bytes(data)
    return added


def rebuild_worktree(repo: Path, row: Mapping[str, Any]) -> None:
    """Check the run's branch out at its (rebased) worktree path, fetching the branch from
    origin if this clone lacks it. A no-op when the worktree is there."""
    if not row.get("worktree_path") or not row.get("pr_branch"):
        return
    path, branch = Path(row["worktree_path"]), str(row["pr_branch"])
    if (path / ".git").exists():
        return
    if not git.branch_exists(repo, branch):
        fetch_branch(repo, branch)
    base = Runs.input(row).get("base") or "HEAD"
    git.add_worktree(repo, path, branch, base)
    git.ignore_middle_files(repo)


def fetch_branch(repo: Path, branch: str) -> bool:
    """Fetch `branch` from origin into the local branch; False if origin has none."""
    try:
        git.git("fetch", "--quiet", "--no-tags", "origin",
                f"+refs/heads/{branch}:refs/heads/{branch}", cwd=repo)  # fmt: skip
    except GitError as exc:
        if "couldn't find remote ref" in str(exc) or "does not appear" in str(exc):
            return False
        raise
    return True


def check_format(doc: Mapping[str, Any]) -> None:
    if doc.get("format") != FORMAT:
        raise StateFormatError(
            f"this is not a middle state bundle (format {doc.get('format')!r}); export one "
            f"with: middle state export --issue REF --to PATH"
        )
    if int(doc.get("version", 0)) > VERSION:
        raise StateFormatError(
            f"state bundle version {doc.get('version')} is newer than this middle reads "
            f"({VERSION}); upgrade middle on this machine"
        )


def claude_project_dir(user_home: Path, cwd: Path) -> Path:
    """Where Claude Code keeps the sessions of a working directory: its path with every
    character that is not a letter or digit turned into '-'."""
    return user_home / ".claude" / "projects" / re.sub(r"[^A-Za-z0-9]", "-", str(cwd))


def path_rebaser(doc: Mapping[str, Any], *, home: Path, repo: Path) -> Callable[[str], str]:
    """A function that moves a path of the exporting machine to its place on this one."""
    origin = doc["origin"]
    old_user, new_user = Path(origin["user_home"]), Path.home()
    pairs: dict[str, str] = {origin["repo"]: str(repo), origin["home"]: str(home)}
    for row in doc["tables"].get("workflows", []):
        old = origin.get("worktrees", {}).get(row["id"])
        if old and row.get("epic_ref"):
            new = worktree_path(home, repo, str(row["epic_ref"]))
            pairs[old] = str(new)
            pairs[str(claude_project_dir(old_user, Path(old)))] = str(
                claude_project_dir(new_user, new)
            )
    pairs.setdefault(str(old_user), str(new_user))
    ordered = sorted(pairs.items(), key=lambda pair: len(pair[0]), reverse=True)

    def rebase(value: str) -> str:
        for old, new in ordered:
            if value == old or value.startswith(old.rstrip("/") + "/"):
                return new + value[len(old) :]
        return value

    return rebase


def rebase_row(row: Mapping[str, Any], rebase: Callable[[str], str]) -> Row:
    out: Row = {}
    for key, value in row.items():
        if key in JSON_COLUMNS and isinstance(value, str):
            moved = _walk(json.loads(value), rebase)
            out[key] = encode_event_payload(moved) if key == "payload_json" else json.dumps(moved)
        elif isinstance(value, str):
            out[key] = rebase(value)
        else:
            out[key] = value
    return out


def _walk(value: Any, rebase: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return rebase(value)
    if isinstance(value, list):
        return [_walk(item, rebase) for item in value]
    if isinstance(value, dict):
        return {key: _walk(item, rebase) for key, item in value.items()}
    return value


# -- on disk ------------------------------------------------------------------------------


def write_bundle(bundle: StateBundle, path: Path) -> None:
    """A path ending in `.json` gets one file; any other path becomes a directory."""
    if path.suffix == ".json":
        encoded = {name: base64.b64encode(data).decode() for name, data in bundle.files.items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**bundle.doc, "files": encoded}, indent=1))
        return
    path.mkdir(parents=True, exist_ok=True)
    (path / DOCUMENT).write_text(json.dumps(bundle.doc, indent=1))
    for name, data in bundle.files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)


def read_bundle(path: Path) -> StateBundle:
    """The bundle in a `.json` file or a directory written by `write_bundle`."""
    try:
        if path.is_dir():
            doc = json.loads((path / DOCUMENT).read_text())
            files = {
                str(f.relative_to(path)): f.read_bytes()
                for f in sorted((path / "transcripts").glob("*"))
                if f.is_file()
            }
        else:
            doc = json.loads(path.read_text())
            files = {k: base64.b64decode(v) for k, v in doc.pop("files", {}).items()}
    except FileNotFoundError as exc:
        raise StateFormatError(
            f"no state bundle at {path} ({exc.filename} is missing); export one with: "
            f"middle state export --issue REF --to {path}"
        ) from exc
    except (json.JSONDecodeError, ValueError) as exc:
        raise StateFormatError(f"{path} is not a readable state bundle: {exc}") from exc
    check_format(doc)
    return StateBundle(doc, files)
