"""Durable signals (`waitfor_signals`): what a parked workflow waits for.

A signal may arrive before its wait is reached (it then falls straight through) or after
(the wait was armed, the workflow parked, and a resume finds it). The first delivery wins;
a repeated one is ignored, so a double-clicked answer cannot resume a workflow twice.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from middle.store.reads import utcnow
from middle.store.records import Row, insert_idempotent


def arm_signal(db: Database, workflow_id: str, name: str, deadline: str | None) -> None:
    """Record that the workflow now waits for `name` (until `deadline`, if given)."""
    armed = {"workflow_id": workflow_id, "name": name, "armed_at": utcnow(), "deadline": deadline}
    if not insert_idempotent(db, "waitfor_signals", armed):
        db.execute(
            "UPDATE waitfor_signals SET armed_at = coalesce(armed_at, ?), "
            "deadline = coalesce(deadline, ?) WHERE workflow_id = ? AND name = ?",
            [armed["armed_at"], deadline, workflow_id, name],
        )


def deliver_signal(db: Database, workflow_id: str, name: str, payload: Any) -> bool:
    """Store the signal durably; False if one of that name was already delivered."""
    now, payload_json = utcnow(), json.dumps(payload)
    delivered = {
        "workflow_id": workflow_id,
        "name": name,
        "payload_json": payload_json,
        "delivered_at": now,
    }
    if insert_idempotent(db, "waitfor_signals", delivered):
        return True
    cursor = db.execute(
        "UPDATE waitfor_signals SET payload_json = ?, delivered_at = ? "
        "WHERE workflow_id = ? AND name = ? AND delivered_at IS NULL",
        [payload_json, now, workflow_id, name],
    )
    return cursor.rowcount == 1


def consume_signal(db: Database, workflow_id: str, name: str) -> None:
    """Forget a signal whose wait has checkpointed its payload."""
    db.execute(
        "DELETE FROM waitfor_signals WHERE workflow_id = ? AND name = ?", [workflow_id, name]
    )


def get_signal(db: Database, workflow_id: str, name: str) -> Row | None:
    try:
        row: Row = db.table("waitfor_signals").get((workflow_id, name))
    except NotFoundError:
        return None
    return row


def delivered_signals(db: Database, workflow_id: str) -> dict[str, Any]:
    """Payloads of every delivered signal of the run, by name."""
    rows = db.table("waitfor_signals").rows_where(
        "workflow_id = ? AND delivered_at IS NOT NULL", [workflow_id]
    )
    return {row["name"]: json.loads(row["payload_json"]) for row in rows}
