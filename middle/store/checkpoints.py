"""Step checkpoints: one `steps` row per (workflow, step name), written by the runner.

A checkpoint moves `running` → `completed` (its output recorded) or `failed`; after a
terminal failure or a cancel, completed ones move `compensating` → `compensated`.
"""

from __future__ import annotations

from sqlite_utils import Database

from middle.store.reads import utcnow
from middle.store.records import insert_idempotent


def begin_attempt(db: Database, workflow_id: str, name: str, position: int) -> int:
    """Record that an attempt of `name` starts; return its attempt number, counted from 1
    across retries *and* crashes (a step a crash interrupted starts at attempt 2)."""
    first = {
        "workflow_id": workflow_id,
        "name": name,
        "position": position,
        "status": "running",
        "attempts": 1,
        "started_at": utcnow(),
    }
    if insert_idempotent(db, "steps", first):
        return 1
    # Two statements, not UPDATE ... RETURNING: sqlite-utils' `execute` only auto-commits a
    # write that returns no rows, and an uncommitted attempt would vanish with the process.
    db.execute(
        "UPDATE steps SET attempts = attempts + 1, status = 'running' "
        "WHERE workflow_id = ? AND name = ?",
        [workflow_id, name],
    )
    row = db.execute(
        "SELECT attempts FROM steps WHERE workflow_id = ? AND name = ?", [workflow_id, name]
    ).fetchone()
    return int(row[0])


def complete_step(db: Database, workflow_id: str, name: str, output_json: str) -> None:
    db.execute(
        "UPDATE steps SET status = 'completed', output_json = ?, last_error = NULL, "
        "finished_at = ? WHERE workflow_id = ? AND name = ?",
        [output_json, utcnow(), workflow_id, name],
    )


def record_completed(
    db: Database, workflow_id: str, name: str, position: int, output_json: str
) -> None:
    """Checkpoint an engine node (a branch choice, a received signal) in one write."""
    now = utcnow()
    insert_idempotent(
        db,
        "steps",
        {
            "workflow_id": workflow_id,
            "name": name,
            "position": position,
            "status": "completed",
            "attempts": 1,
            "output_json": output_json,
            "started_at": now,
            "finished_at": now,
        },
    )


def record_attempt_error(db: Database, workflow_id: str, name: str, error: str) -> None:
    db.execute(
        "UPDATE steps SET last_error = ? WHERE workflow_id = ? AND name = ?",
        [error, workflow_id, name],
    )


def fail_step(db: Database, workflow_id: str, name: str, error: str) -> None:
    db.execute(
        "UPDATE steps SET status = 'failed', last_error = ?, finished_at = ? "
        "WHERE workflow_id = ? AND name = ?",
        [error, utcnow(), workflow_id, name],
    )


def claim_compensation(db: Database, workflow_id: str, name: str) -> bool:
    """Move a completed checkpoint to `compensating`; False if someone else already did,
    so two processes (a cancel and the run it cancels) never undo one step twice."""
    cursor = db.execute(
        "UPDATE steps SET status = 'compensating' "
        "WHERE workflow_id = ? AND name = ? AND status = 'completed'",
        [workflow_id, name],
    )
    return cursor.rowcount == 1


def finish_compensation(db: Database, workflow_id: str, name: str, error: str | None) -> None:
    """`compensated`, or `failed` with the compensation's error."""
    status = "compensated" if error is None else "failed"
    db.execute(
        "UPDATE steps SET status = ?, last_error = coalesce(?, last_error), finished_at = ? "
        "WHERE workflow_id = ? AND name = ?",
        [status, error, utcnow(), workflow_id, name],
    )
