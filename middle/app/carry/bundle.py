"""What a state bundle is, and the check every bundle passes before anything reads it.

A bundle arrives from another machine: a CI cache, an artifact, or a ref that anyone who
may push to the repository (the agent, with a job's token, among them) can rewrite. So it
is untrusted input. `check_bundle` accepts exactly what `export_state` writes and refuses
anything else with one line that names the place and the value: a missing or unknown
`version`, an unknown key, table, column or file, a value of the wrong type or outside its
column's vocabulary, a ref the CLI would refuse, a file whose size or sha256 is not the
manifest's. What depends on the importing machine (its repo, its paths) is checked when the
rows are carried over (`middle.app.carry.rows`).

Version 2 added the manifest. Version 1 (no manifest) is still read, files unchecked: it is
what the middle before it wrote, and its rows are upgraded as they are imported.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from middle.errors import UNREADABLE_JSON, InvalidRefError, StateFormatError
from middle.refs import branch_name, validate_ref, validate_run_ref
from middle.steps.epic_child import child_branch, integration_branch
from middle.store import STEP_STATUSES, WORKFLOW_STATES

FORMAT = "middle-state"
VERSION = 2
MANIFEST_SINCE = 2  # the first version whose files carry a size and sha256
DOCUMENT = "state.json"
TRANSCRIPTS = "transcripts"
KEYS = {"format", "version", "exported_at", "origin", "tables", "manifest"}
ORIGIN_KEYS = {"home", "repo", "user_home", "worktrees"}

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # a workflow id: a safe file name
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an adapter's name
# A CLI's session id and the branch a run started from reach git or the CLI as arguments
# of their own: what matters is that neither can be read as an option.
SESSION_ID = re.compile(r"[A-Za-z0-9][!-~]{0,199}")  # printable, no space
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # a full commit id, SHA-1 or SHA-256
COMMENT_STATES = ("draft", "sent")
EPIC, CHILD = "epic", "epic-child"  # a fanned-out Epic's workflows (middle.workflows.epic)
ACROSS_REPOS = {"epic_repo", "repo_name", "epic_repos", "upstream"}  # a child's, in many repos
_BASE = re.compile(r"[A-Za-z0-9_][^\x00-\x20\x7f~^:?*\[\\]{0,199}")  # git's ref name rules


@dataclass
class StateBundle:
    """The document (`state.json`) and the files (`transcripts/<workflow id>`: bytes).
    Neither of the others is written: `warnings` says what an export left out and why,
    `source` where the bundle was read from (for messages)."""

    doc: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: str = "the imported bundle"

    @property
    def workflow_ids(self) -> list[str]:
        return [row["id"] for row in self.doc.get("tables", {}).get("workflows", [])]


def manifest(files: Mapping[str, bytes]) -> dict[str, dict[str, Any]]:
    """Each file's size and sha256, by name."""
    return {
        name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for name, data in sorted(files.items())
    }


class Refusal:
    """Builds the one-line refusals of one bundle, each naming where it came from."""

    def __init__(self, source: str) -> None:
        self.source = source

    def __call__(self, problem: str) -> StateFormatError:
        fix = (
            f"delete it (git push origin :{self.source}) and the next job starts over"
            if self.source.startswith("refs/")
            else "export it again with `middle state export`"
        )
        return StateFormatError(
            f"{self.source} is not a state bundle middle can import: {problem}; {fix}"
        )


# -- columns ------------------------------------------------------------------------------


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _timestamp(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _json(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except UNREADABLE_JSON:
        return False
    return True


def _json_object(value: Any) -> bool:
    return _json(value) and isinstance(json.loads(value), dict)


Check = Callable[[Any], bool]


# Per table, each column: what its value must be, and whether it may be null (or absent).
COLUMNS: dict[str, dict[str, tuple[Check, bool]]] = {
    "workflows": {
        "id": (_text, False), "kind": (_text, False), "repo": (_text, False),
        "epic_ref": (_text, False), "epic_number": (_integer, True),
        "adapter": (_text, False), "state": (_text, False),
        "created_at": (_timestamp, False), "updated_at": (_timestamp, False),
        "worktree_path": (_text, True), "session_name": (_text, True),
        "session_token": (_text, True), "session_id": (_text, True),
        "transcript_path": (_text, True), "controlled_by": (_text, False),
        "pr_number": (_integer, True), "pr_branch": (_text, True),
        "last_heartbeat": (_timestamp, True), "end_reason": (_text, True),
        "meta_json": (_json_object, False),
        # a fanned-out Epic's child names its Epic's run, carried with it (`check_family`)
        "parent_id": (_text, True),
    },
    "steps": {
        "workflow_id": (_text, False), "name": (_text, False), "position": (_integer, False),
        "status": (_text, False), "attempts": (_integer, False), "output_json": (_json, True),
        "last_error": (_text, True), "started_at": (_timestamp, False),
        "finished_at": (_timestamp, True),
    },
    "waitfor_signals": {
        "workflow_id": (_text, False), "name": (_text, False), "armed_at": (_timestamp, True),
        "deadline": (_timestamp, True), "payload_json": (_json, True),
        "delivered_at": (_timestamp, True),
    },
    "events": {
        "uid": (_text, True), "workflow_id": (_text, False), "ts": (_timestamp, False),
        "type": (_text, False), "payload_json": (_json, False),
    },
    "hook_deliveries": {
        "workflow_id": (_text, False), "delivery": (_text, False),
        "recorded_at": (_timestamp, False),
    },
    "review_comments": {
        "id": (_text, False), "workflow_id": (_text, False), "path": (_text, False),
        "line": (_integer, False), "head_sha": (_text, False), "body": (_text, False),
        "context": (_text, False), "state": (_text, False),
        "created_at": (_timestamp, False), "sent_at": (_timestamp, True),
    },
}  # fmt: skip


# -- the check ----------------------------------------------------------------------------


def check_bundle(doc: Any, files: Mapping[str, bytes], source: str) -> dict[str, Any]:
    """`doc` if it and `files` are a bundle `export_state` could have written; otherwise
    `StateFormatError`, one line naming `source` and what is wrong."""
    refuse = Refusal(source)
    if not isinstance(doc, dict):
        raise refuse(f"its {DOCUMENT} holds a {type(doc).__name__}, not an object")
    if doc.get("format") != FORMAT:
        raise StateFormatError(
            f"{source} is not a middle state bundle (format {doc.get('format')!r}); export "
            f"one with: middle state export --issue REF --path PATH"
        )
    version = check_version(doc, refuse)
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise refuse(f"unknown key {unknown[0]!r} in {DOCUMENT}")
    if version >= MANIFEST_SINCE and "manifest" not in doc:
        raise refuse(f"it has no manifest, which every version {version} bundle has")
    if version < MANIFEST_SINCE and "manifest" in doc:
        raise refuse(f"it has a manifest, which no version {version} bundle has")
    if not isinstance(doc.get("exported_at"), str):
        raise refuse("`exported_at` is missing")
    ids = check_tables(doc.get("tables"), refuse)
    check_origin(doc.get("origin"), ids, refuse)
    check_files(files, doc.get("manifest") if version >= MANIFEST_SINCE else None, ids, refuse)
    return doc


def check_version(doc: Mapping[str, Any], refuse: Refusal) -> int:
    version = doc.get("version")
    if "version" not in doc:
        raise refuse(f"it has no `version` (this middle reads versions 1 to {VERSION})")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise refuse(f"`version` {version!r} is unknown (this middle reads 1 to {VERSION})")
    if version > VERSION:
        raise StateFormatError(
            f"{refuse.source}: state bundle version {version} is newer than this middle "
            f"reads ({VERSION}); upgrade middle on this machine"
        )
    return version


def check_origin(origin: Any, ids: list[str], refuse: Refusal) -> None:
    if not isinstance(origin, dict) or set(origin) != ORIGIN_KEYS:
        raise refuse(f"`origin` must have exactly {sorted(ORIGIN_KEYS)}")
    for key in ("home", "repo", "user_home"):
        if not _absolute(origin[key]):
            raise refuse(f"origin {key} {origin[key]!r} is not an absolute path")
    worktrees = origin["worktrees"]
    if not isinstance(worktrees, dict) or set(worktrees) - set(ids):
        raise refuse("origin worktrees must map the bundle's workflow ids to paths")
    for run, path in worktrees.items():
        if path is not None and not _absolute(path):
            raise refuse(f"origin worktree of workflow {run} {path!r} is not an absolute path")


def _absolute(value: Any) -> bool:
    """An absolute path other than `/`, with no `..` in it."""
    if not isinstance(value, str):
        return False
    path = PurePosixPath(value)
    return path.is_absolute() and ".." not in path.parts and path != path.parent


def check_tables(tables: Any, refuse: Refusal) -> list[str]:
    """The workflow ids, once every row of every table has been checked."""
    if not isinstance(tables, dict):
        raise refuse("`tables` is missing")
    unknown = sorted(set(tables) - set(COLUMNS))
    if unknown:
        raise refuse(f"unknown table {unknown[0]!r}")
    for table, rows in tables.items():
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise refuse(f"table {table!r} is not a list of rows")
        for number, row in enumerate(rows, 1):
            check_columns(table, number, row, refuse)
    ids = [row["id"] for row in tables.get("workflows", [])]
    for number, row in enumerate(tables.get("workflows", []), 1):
        check_workflow(number, row, refuse)
    if len(set(ids)) != len(ids):
        raise refuse("a workflow id appears twice")
    check_family(tables, refuse)
    for table in set(tables) - {"workflows"}:
        for number, row in enumerate(tables[table], 1):
            if row["workflow_id"] not in ids:
                raise refuse(
                    f"{table} row {number} is of workflow {row['workflow_id']!r}, which the "
                    f"bundle does not hold"
                )
            if table == "steps" and row["status"] not in STEP_STATUSES:
                raise refuse(f"steps row {number} has status {row['status']!r}")
    for number, row in enumerate(tables.get("review_comments", []), 1):
        check_comment(number, row, refuse)
    return ids


def check_columns(table: str, number: int, row: Mapping[str, Any], refuse: Refusal) -> None:
    columns = COLUMNS[table]
    unknown = sorted(set(row) - set(columns))
    if unknown:
        raise refuse(f"{table} row {number} has an unknown column {unknown[0]!r}")
    for column, (check, nullable) in columns.items():
        value = row.get(column)
        if value is None and nullable:
            continue
        if not check(value):
            raise refuse(
                f"{table} row {number} has {column} = {shown(value)}, which is not "
                f"{_expected(check)}"
            )


def check_workflow(number: int, row: Mapping[str, Any], refuse: Refusal) -> None:
    """The values a run's row is used by: names that reach paths, git and argv."""
    where = f"workflows row {number}"
    if not _ID.fullmatch(row["id"]):
        raise refuse(f"{where} has id {shown(row['id'])}, which is not a workflow id")
    if row["kind"] != "implementation":
        raise refuse(f"{where} is a {shown(row['kind'])} run; only implementations travel")
    meta = json.loads(row["meta_json"])
    child = row.get("parent_id") is not None or meta.get("workflow") == CHILD
    try:
        ref = validate_run_ref(row["epic_ref"]) if child else validate_ref(row["epic_ref"])
    except InvalidRefError:
        raise refuse(f"{where} has epic_ref {shown(row['epic_ref'])}, not an issue ref") from None
    epic, _, sub = ref.partition("/")
    if child and not sub:
        raise refuse(f"{where} is an Epic's child with epic_ref {shown(ref)}, not <ref>/<sub>")
    vocabulary = {"state": WORKFLOW_STATES, "controlled_by": ("middle", "human")}
    for column, allowed in vocabulary.items():
        if row[column] not in allowed:
            raise refuse(f"{where} has {column} = {shown(row[column])}")
    if not _NAME.fullmatch(row["adapter"]):
        raise refuse(f"{where} has adapter {shown(row['adapter'])}, not an adapter's name")
    if row.get("session_id") is not None and not SESSION_ID.fullmatch(row["session_id"]):
        raise refuse(f"{where} has session_id {shown(row['session_id'])}")
    run_input = meta.get("input", {})
    if not isinstance(run_input, dict):
        raise refuse(f"{where}'s meta_json input is not an object")
    said_ref = run_input.get("ref", run_input.get("epic_ref", epic))  # an older middle's name
    said_sub = run_input.get("sub") if child else None
    if (said_ref, said_sub) != (epic, sub or None) or (
        run_input.get("adapter", row["adapter"]) != row["adapter"]
    ):
        raise refuse(f"{where}'s meta_json input names another issue or adapter than its row")
    branch = run_branch(meta.get("workflow"), epic, sub)
    if row.get("pr_branch") is not None and row["pr_branch"] != branch:
        raise refuse(
            f"{where} has pr_branch {shown(row['pr_branch'])}; issue {ref}'s branch is {branch}"
        )
    base = run_input.get("base", "HEAD")
    if not isinstance(base, str) or not _BASE.fullmatch(base) or ".." in base or "@{" in base:
        raise refuse(f"{where}'s meta_json input has base {shown(base)}, not a branch name")


def run_branch(workflow: Any, ref: str, sub: str) -> str:
    """The branch middle gives a run of `workflow` for issue `ref` (sub-issue `sub`)."""
    if workflow == CHILD:
        return child_branch(ref, sub)
    return integration_branch(ref) if workflow == EPIC else branch_name(ref)


def check_family(tables: Mapping[str, Any], refuse: Refusal) -> None:
    """A fanned-out Epic travels whole or not at all: a bundle with a child holds exactly
    one other run, its Epic's (an `epic` run in one repository), and each child names it
    as its parent, is of one of its planned sub-issues, and has no children of its own."""
    rows = tables.get("workflows", [])
    children = [
        (n, row) for n, row in enumerate(rows, 1)
        if row.get("parent_id") is not None or json.loads(row["meta_json"]).get("workflow") == CHILD
    ]  # fmt: skip
    if not children:
        return
    held = {row["id"] for _, row in children}
    roots = [row for row in rows if row["id"] not in held]
    if len(roots) != 1 or json.loads(roots[0]["meta_json"]).get("workflow") != EPIC:
        raise refuse(
            f"workflows row {children[0][0]} is an Epic's child, and the bundle does not "
            f"hold its Epic's run alone beside its children"
        )
    parent = roots[0]
    plans = [
        json.loads(step["output_json"] or "null")
        for step in tables.get("steps", [])
        if step["workflow_id"] == parent["id"] and step["name"] == "plan-epic"
    ]
    plan = plans[-1] if plans and isinstance(plans[-1], dict) else {}
    repos = plan.get("repos") or {}
    if not isinstance(repos, dict) or len(repos) > 1:
        raise refuse(
            f"Epic run {parent['id']} plans its sub-issues in repos {shown(repos)}; an Epic "
            f"across repos is not carried: run it with `middle serve`"
        )
    subs = plan.get("subs")
    subs = subs if isinstance(subs, list) else []
    planned = {str(s.get("id")) for s in subs if isinstance(s, dict)}
    for number, row in children:
        where = f"workflows row {number}"
        if row["parent_id"] != parent["id"]:
            raise refuse(
                f"{where} has parent_id {shown(row['parent_id'])}, not {parent['id']}, the "
                f"Epic's run the bundle holds: a child is carried with its own Epic"
            )
        meta = json.loads(row["meta_json"])
        run_input = meta.get("input", {})
        epic, _, sub = str(row["epic_ref"]).partition("/")
        if meta.get("workflow") != CHILD or epic != parent["epic_ref"] or sub not in planned:
            raise refuse(
                f"{where} is {shown(row['epic_ref'])}, not a child of one of the sub-issues "
                f"of issue {parent['epic_ref']} ({', '.join(sorted(planned)) or 'none planned'})"
            )
        if run_input.get("parent") != parent["id"] or set(run_input) & ACROSS_REPOS:
            raise refuse(f"{where}'s meta_json input names another parent or other repos")


def check_comment(number: int, row: Mapping[str, Any], refuse: Refusal) -> None:
    """A line comment's values reach git (its head as a revision of its own, its path only
    after it or `--`), a pull request review and the agent's brief: each must be what the
    dashboard records."""
    where = f"review_comments row {number}"
    if not _ID.fullmatch(row["id"]):
        raise refuse(f"{where} has id {shown(row['id'])}, which is not a comment id")
    if not _SHA.fullmatch(row["head_sha"]):
        raise refuse(f"{where} has head_sha {shown(row['head_sha'])}, not a commit id")
    path = PurePosixPath(row["path"])
    if not row["path"] or path.is_absolute() or ".." in path.parts or "\0" in row["path"]:
        raise refuse(f"{where} has path {shown(row['path'])}, not a file of the repository")
    if row["line"] < 1:
        raise refuse(f"{where} has line = {shown(row['line'])}; lines count from 1")
    if row["state"] not in COMMENT_STATES:
        raise refuse(f"{where} has state = {shown(row['state'])}")


def check_files(files: Mapping[str, bytes], listed: Any, ids: list[str], refuse: Refusal) -> None:
    """Every file is a transcript of one of the runs, and (version 2 on) the manifest's."""
    allowed = {f"{TRANSCRIPTS}/{run}" for run in ids}
    for name in files:
        if name not in allowed:
            raise refuse(f"unknown file {shown(name)}")
    if listed is None:
        return
    if not isinstance(listed, dict) or not all(
        isinstance(entry, dict) and set(entry) == {"size", "sha256"} for entry in listed.values()
    ):
        raise refuse("its manifest is not a map of names to {size, sha256}")
    for name in sorted(set(listed) | set(files)):
        if name not in files:
            raise refuse(f"file {shown(name)} is in the manifest but missing")
        if name not in listed:
            raise refuse(f"file {shown(name)} is not in the manifest")
        data, entry = files[name], listed[name]
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise refuse(
                f"file {name} is {len(data)} bytes and not what the manifest says "
                f"({shown(entry['size'])} bytes, sha256 {shown(entry['sha256'])}): it was "
                f"cut short or altered"
            )


def shown(value: Any) -> str:
    """A value from the bundle as a message may quote it: its repr, on one line, short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _expected(check: Check) -> str:
    names: dict[Check, str] = {
        _text: "text",
        _integer: "a whole number",
        _timestamp: "an ISO 8601 time",
        _json: "JSON text",
        _json_object: "a JSON object as text",
    }
    return names[check]
