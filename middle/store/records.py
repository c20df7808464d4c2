"""Records: the one idempotent insert, and the workflow and event helpers built on it.

**The rule.** A retried step re-runs its inserts. Every record-creating insert in middle goes
through `insert_idempotent`, which emits `INSERT ... ON CONFLICT(<primary key>) DO NOTHING`:

- a same-id retry is a no-op that leaves the row exactly as it was (even if it has advanced);
- a CHECK, NOT NULL or any *other* UNIQUE violation still raises.

The blanket conflict clauses (SQLite's OR-IGNORE and OR-REPLACE, sqlite-utils' ignore and
replace flags) are banned, and `tests/test_source_rules.py` keeps them out: they swallow
those other violations, or clobber a row that has moved on, and so mask the real error a
retried step should surface.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from typing import Any
from weakref import WeakKeyDictionary

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError, quote_identifier

from middle.errors import AlreadyInFlight, StoreError, UnknownWorkflowError
from middle.store.base import write_transaction
from middle.store.reads import list_workflows, rows, utcnow
from middle.store.schema import EVENT_PAYLOAD_MAX_BYTES, TERMINAL_STATES

Row = dict[str, Any]

# The schema never changes under a running process, so each connection builds a table's
# primary key and each insert statement once (the runner's hot path inserts per step).
_statements: WeakKeyDictionary[Database, dict[Any, Any]] = WeakKeyDictionary()


def primary_key(db: Database, table: str) -> tuple[str, ...]:
    """The declared primary key columns of `table`, in key order."""
    known = _statements.setdefault(db, {})
    if table not in known:
        if not db[table].exists():
            raise StoreError(f"no table {table!r} in the database; is it migrated?")
        columns = db.execute(f"PRAGMA table_info({quote_identifier(table)})").fetchall()
        names = tuple(name for _, name, *_, pk in sorted(columns, key=lambda c: c[5]) if pk)
        if not names:
            raise StoreError(f"table {table!r} has no primary key, so no insert is idempotent")
        known[table] = names
    keys: tuple[str, ...] = known[table]
    return keys


def insert_idempotent(db: Database, table: str, row: Mapping[str, Any]) -> bool:
    """Insert `row` unless a row with the same primary key exists; return whether it did.

    PK-scoped on purpose: only a primary-key collision (a retry of the same record) is
    ignored. Every other constraint violation raises `sqlite3.IntegrityError`.
    """
    known = _statements.setdefault(db, {})
    shape = (table, *row)
    if shape not in known:
        keys = ", ".join(quote_identifier(k) for k in primary_key(db, table))
        columns = ", ".join(quote_identifier(c) for c in row)
        placeholders = ", ".join("?" for _ in row)
        known[shape] = (
            f"INSERT INTO {quote_identifier(table)} ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT({keys}) DO NOTHING"
        )
    cursor = db.execute(known[shape], list(row.values()))
    return cursor.rowcount == 1


def create_workflow_record(
    db: Database,
    *,
    id: str,
    kind: str,
    repo: str,
    epic_ref: str | None,
    adapter: str,
    source: str | None = None,
    meta: Mapping[str, Any] | None = None,
) -> bool:
    """Create the workflow row in state `pending`; a retry with the same id is a no-op.

    A numeric `epic_ref` (a GitHub issue number) also fills `epic_number`. `source`
    ("manual" or "auto") and `meta` go into `meta_json`. A second live implementation for
    the same (repo, epic_ref) raises `AlreadyInFlight`, naming the live one.
    """
    now = utcnow()
    meta_json = dict(meta or {})
    if source is not None:
        meta_json["source"] = source
    row = {
        "id": id,
        "kind": kind,
        "repo": repo,
        "epic_ref": epic_ref,
        "epic_number": int(epic_ref) if epic_ref and re.fullmatch(r"[0-9]+", epic_ref) else None,
        "adapter": adapter,
        "state": "pending",
        "created_at": now,
        "updated_at": now,
        "meta_json": json.dumps(meta_json),
    }
    try:
        return insert_idempotent(db, "workflows", row)
    except sqlite3.IntegrityError as exc:
        live = find_live_implementation(db, repo=repo, epic_ref=epic_ref)
        if live is None or live["id"] == id:
            raise
        raise AlreadyInFlight(
            f"issue {epic_ref} in {repo} already has a live workflow {live['id']} "
            f"({live['state']}); wait for it to settle, or end it with "
            f"`middle cancel --issue {epic_ref}`"
        ) from exc


def find_live_implementation(db: Database, *, repo: str, epic_ref: str | None) -> Row | None:
    """The non-terminal implementation workflow for (repo, epic_ref), if there is one."""
    rows = list_workflows(db, repo=repo, epic_ref=epic_ref, kind="implementation", live=True)
    return rows[0] if rows else None


def live_session_owner(db: Database, session: str, *, besides: str) -> Row | None:
    """The other live workflow that owns tmux session `session`, if any. A launch that
    finds a leftover session by its name kills it only when this returns None."""
    rows = list(
        db["workflows"].rows_where(
            f"session_name = ? AND id != ? AND state NOT IN "
            f"({', '.join('?' for _ in TERMINAL_STATES)})",
            [session, besides, *TERMINAL_STATES],
            limit=1,
        )
    )
    return rows[0] if rows else None


def get_workflow(db: Database, workflow_id: str) -> Row:
    """The workflow row; `UnknownWorkflowError` if there is none."""
    try:
        row: Row = db.table("workflows").get(workflow_id)
    except NotFoundError:
        raise UnknownWorkflowError(f"no workflow with id {workflow_id!r}") from None
    return row


def update_workflow(db: Database, workflow_id: str, **columns: Any) -> None:
    """Set the named columns and bump `updated_at`; `UnknownWorkflowError` if no such row.

    A misspelt column raises `sqlite3.OperationalError` (no such column) from SQLite itself.
    """
    columns["updated_at"] = utcnow()
    assignments = ", ".join(f"{quote_identifier(c)} = ?" for c in columns)
    cursor = db.execute(
        f"UPDATE workflows SET {assignments} WHERE id = ?", [*columns.values(), workflow_id]
    )
    if cursor.rowcount == 0:
        raise UnknownWorkflowError(f"no workflow with id {workflow_id!r}")


def transition_workflow(
    db: Database,
    workflow_id: str,
    state: str,
    *,
    leaving: str | Iterable[str],
    end_reason: str | None = None,
) -> bool:
    """Move the workflow from one of the `leaving` states to `state` (a compare-and-set);
    False, and no change, if it is in another state by now.

    Every caller names the state it read, so a decision taken on a stale read (the
    watchdog failing a run that has just parked, say) changes nothing. `LIVE_STATES` means
    "whatever live state it is in". Terminal states are never left: a run finishing in
    one process cannot overwrite the `cancelled` another process wrote a moment before.
    """
    expected = [leaving] if isinstance(leaving, str) else list(leaving)
    expected = [s for s in expected if s not in TERMINAL_STATES]
    if not expected:
        return False
    cursor = db.execute(
        "UPDATE workflows SET state = ?, end_reason = coalesce(?, end_reason), updated_at = ? "
        f"WHERE id = ? AND state IN ({', '.join('?' for _ in expected)})",
        [state, end_reason, utcnow(), workflow_id, *expected],
    )
    return cursor.rowcount == 1


def merge_workflow_meta(db: Database, workflow_id: str, patch: Mapping[str, Any]) -> None:
    """Merge `patch` into `meta_json` (RFC 7396: keys it does not name are kept, a null
    value deletes its key), in one statement so concurrent patches cannot lose each other."""
    cursor = db.execute(
        "UPDATE workflows SET meta_json = json_patch(meta_json, ?), updated_at = ? WHERE id = ?",
        [json.dumps(patch), utcnow(), workflow_id],
    )
    if cursor.rowcount == 0:
        raise UnknownWorkflowError(f"no workflow with id {workflow_id!r}")


def record_pull_request(db: Database, workflow_id: str, number: int, url: str) -> None:
    """Fill `workflows.pr_number`, and the PR's URL in `meta_json`, in one statement."""
    db.execute(
        "UPDATE workflows SET pr_number = ?, meta_json = json_patch(meta_json, ?), "
        "updated_at = ? WHERE id = ? AND pr_number IS NOT ?",
        [number, json.dumps({"pr_url": url}), utcnow(), workflow_id, number],
    )


def cancel_requested(db: Database, workflow_id: str) -> bool:
    """Whether `request_cancel` was called for the run (one indexed read)."""
    return run_requests(db, workflow_id)[0]


def run_requests(db: Database, workflow_id: str) -> tuple[bool, str | None]:
    """In one read: whether a cancel was requested, and why the watchdog asked the
    dispatcher to end the run's turn (None if it did not). A turn polls this."""
    row = db.execute(
        "SELECT json_extract(meta_json, '$.cancel_requested'), "
        "json_extract(meta_json, '$.fail_requested') FROM workflows WHERE id = ?",
        [workflow_id],
    ).fetchone()
    if row is None:
        return False, None
    return row[0] is not None, None if row[1] is None else str(row[1])


def turn_timed_out(db: Database, workflow_id: str) -> float | None:
    """The turn timeout in seconds, if the run's latest turn (since its last launch or
    adoption) hit it; None otherwise."""
    row = db.execute(
        "SELECT payload_json FROM events WHERE workflow_id = ? AND type = 'agent.turn-timeout' "
        "AND id > coalesce((SELECT max(id) FROM events WHERE workflow_id = ? AND type IN "
        "('agent.launched', 'agent.adopted')), 0) ORDER BY id DESC LIMIT 1",
        [workflow_id, workflow_id],
    ).fetchone()
    return None if row is None else float(json.loads(row[0]).get("seconds", 0))


def last_hook_at(db: Database, workflow_id: str) -> str | None:
    """When the run's agent last sent a hook."""
    row = db.execute(
        "SELECT max(ts) FROM events WHERE workflow_id = ? AND type LIKE 'hook.%'", [workflow_id]
    ).fetchone()
    return None if row is None else row[0]


def request_cancel(db: Database, workflow_id: str) -> None:
    """Flag the run for cancellation; the process running it stops at its next check."""
    merge_workflow_meta(db, workflow_id, {"cancel_requested": utcnow()})


def record_event(
    db: Database,
    workflow_id: str | None,
    type: str,
    payload: Mapping[str, Any] | None = None,
) -> None:
    """Append an event; a payload over 16 KB is stored truncated (see `encode_event_payload`).

    Events are append-only: the id comes from AUTOINCREMENT, so the PK-scoped insert never
    conflicts and every call adds exactly one row.
    """
    insert_idempotent(
        db,
        "events",
        {
            "workflow_id": workflow_id,
            "ts": utcnow(),
            "type": type,
            "payload_json": encode_event_payload(payload or {}),
        },
    )


def encode_event_payload(payload: Mapping[str, Any]) -> str:
    """JSON for `payload`, cut to fit `EVENT_PAYLOAD_MAX_BYTES` when it is too large.

    A payload that fits is stored as is. One that does not becomes
    `{"truncated": true, "original_bytes": N, "preview": "<the JSON text, cut>"}`, the preview
    shrunk until the whole record fits, whatever escaping the cut text needs.
    """
    text = json.dumps(payload, ensure_ascii=False, default=str)
    size = len(text.encode())
    if size <= EVENT_PAYLOAD_MAX_BYTES:
        return text
    preview = text.encode()[:EVENT_PAYLOAD_MAX_BYTES].decode(errors="ignore")
    while True:
        wrapped = json.dumps(
            {"truncated": True, "original_bytes": size, "preview": preview}, ensure_ascii=False
        )
        overflow = len(wrapped.encode()) - EVENT_PAYLOAD_MAX_BYTES
        if overflow <= 0:
            return wrapped
        preview = preview[: max(0, len(preview) - overflow)]


# Issue 26: what a review of a run's branch reads and keeps: the newest gate and evidence
# records of the run, and `review_comments`, a reviewer's line comments. A comment is a
# `draft` until the review that carries it is sent, then `sent` with the time it went.
def add_review_comment(
    db: Database, workflow_id: str, *, path: str, line: int, head_sha: str, body: str,
    context: str = "",
) -> str:  # fmt: skip
    """Record a draft comment on `path:line` of the diff at `head_sha`; its id."""
    comment_id = f"rc-{uuid.uuid4().hex[:12]}"
    insert_idempotent(
        db,
        "review_comments",
        {
            "id": comment_id, "workflow_id": workflow_id, "path": path, "line": line,
            "head_sha": head_sha, "body": body, "context": context, "state": "draft",
            "created_at": utcnow(),
        },
    )  # fmt: skip
    return comment_id


def review_comments(db: Database, workflow_id: str, state: str | None = None) -> list[Row]:
    """The run's comments, oldest first (only drafts or only sent ones, if `state`)."""
    where, params = "workflow_id = ?", [workflow_id]
    if state is not None:
        where, params = f"{where} AND state = ?", [workflow_id, state]
    return list(db["review_comments"].rows_where(where, params, order_by="created_at, id"))


def discard_draft_comment(db: Database, workflow_id: str, comment_id: str) -> bool:
    """Delete one of the run's drafts; whether there was one (a sent comment stays)."""
    with write_transaction(db):
        cursor = db.execute(
            "DELETE FROM review_comments WHERE id = ? AND workflow_id = ? AND state = 'draft'",
            [comment_id, workflow_id],
        )
    return bool(cursor.rowcount)


def mark_comments_sent(db: Database, workflow_id: str, ids: Iterable[str]) -> None:
    """The drafts `ids` went out with a review, now."""
    now = utcnow()
    with write_transaction(db):
        for comment_id in ids:
            db.execute(
                "UPDATE review_comments SET state = 'sent', sent_at = ? "
                "WHERE id = ? AND workflow_id = ? AND state = 'draft'",
                [now, comment_id, workflow_id],
            )


def newest_events(db: Database, workflow_id: str, types: Iterable[str]) -> dict[str, Row]:
    """The run's newest event of each of `types`, by type (a type never recorded: absent)."""
    wanted = list(types)
    marks = ", ".join("?" for _ in wanted)
    found = rows(
        db,
        f"SELECT * FROM events WHERE id IN (SELECT max(id) FROM events WHERE workflow_id = ? "
        f"AND type IN ({marks}) GROUP BY type)",
        [workflow_id, *wanted],
    )
    return {str(row["type"]): row for row in found}
