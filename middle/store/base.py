"""Primitives every store module shares: the clock and the write transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlite_utils import Database


@contextmanager
def write_transaction(db: Database) -> Iterator[Database]:
    """Run a block as one transaction that holds the write lock from its first statement.

    `BEGIN IMMEDIATE` rather than sqlite-utils' `db.atomic()` (a deferred `BEGIN`): a block
    that reads and then writes must not find, half-way, that another writer committed in
    between; that surfaces as `database is locked` no matter the busy timeout.
    """
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")


def utcnow() -> str:
    """Now, as the ISO 8601 UTC text every timestamp column holds (sorts as it reads)."""
    return iso(datetime.now(UTC))


def iso(moment: datetime) -> str:
    """`moment` (timezone-aware) as timestamp-column text: `2026-11-27T06:05:21.123456Z`."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def database_file(db: Database) -> Path:
    """The file behind `db` (its `main` schema)."""
    return Path(db.conn.execute("PRAGMA database_list").fetchone()[2])
