"""`rate_limit_state`: whether each adapter may be dispatched, and until when it may not."""

from __future__ import annotations

from sqlite_utils import Database

from middle.store.reads import utcnow
from middle.store.records import insert_idempotent


def set_rate_limit(
    db: Database, adapter: str, *, status: str, reset_at: str | None, source: str
) -> None:
    """Record the adapter's status (`limited` until `reset_at`, or `available`)."""
    row = {
        "adapter": adapter,
        "status": status,
        "reset_at": reset_at,
        "source": source,
        "updated_at": utcnow(),
    }
    if not insert_idempotent(db, "rate_limit_state", row):
        db.execute(
            "UPDATE rate_limit_state SET status = ?, reset_at = ?, source = ?, updated_at = ? "
            "WHERE adapter = ?",
            [status, reset_at, source, row["updated_at"], adapter],
        )
