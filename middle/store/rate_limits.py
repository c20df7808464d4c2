"""`rate_limit_state`: whether each adapter may be dispatched, and until when it may not."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.db import NotFoundError

from middle.store.base import utcnow
from middle.store.records import Row, insert_idempotent


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


def get_rate_limit(db: Database, adapter: str) -> Row | None:
    try:
        row: Row = db.table("rate_limit_state").get(adapter)
    except NotFoundError:
        return None
    return row


def active_rate_limit(db: Database, adapter: str) -> Row | None:
    """The adapter's limit if it is still in force now, else None."""
    row = get_rate_limit(db, adapter)
    if row is None or row["status"] != "limited":
        return None
    if row["reset_at"] is not None and row["reset_at"] <= utcnow():
        return None
    return row


def list_rate_limits(db: Database) -> list[Row]:
    return list(db.table("rate_limit_state").rows_where(order_by="adapter"))
