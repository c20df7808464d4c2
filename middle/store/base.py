"""Primitives every store module shares: the clock, the write transaction, and the
connection to which a locked database is a transient fault."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database
from tenacity import Retrying, retry_if_exception, stop_after_delay, stop_never
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from middle.errors import DatabaseBusyError

BUSY_PATIENCE_SECONDS = 60.0
BUSY_WAIT = wait_exponential_jitter(multiplier=0.05, max=2.0, jitter=0.05)


def is_busy(exc: BaseException) -> bool:
    """Whether SQLite said another connection holds the lock a statement needs."""
    named = getattr(exc, "sqlite_errorname", "") if isinstance(exc, sqlite3.Error) else ""
    return isinstance(exc, sqlite3.OperationalError) and str(named).startswith("SQLITE_BUSY")


class PatientConnection(sqlite3.Connection):
    """A connection to which a locked database is a transient fault, never a failure.

    SQLite waits `busy_timeout` for another connection's write lock, then fails with
    SQLITE_BUSY ("database is locked"). A statement that failed so *outside* a transaction
    (an autocommit write, or the `BEGIN IMMEDIATE` of `write_transaction`) changed
    nothing, so it runs again, with exponential backoff, until `patience` (a tenacity
    stop) says enough; then `DatabaseBusyError` says which file and for how long. Inside
    a transaction nothing is retried: after middle's `BEGIN IMMEDIATE` the lock is held,
    and in a deferred transaction a busy means its snapshot is stale, which no retry of
    one statement mends; SQLite's error surfaces.

    `patience` is `BUSY_PATIENCE_SECONDS` unless a caller widens it for a while
    (`patient`): the runner does, for as long as it drives a run.
    """

    path: str = ""
    patience: stop_base = stop_after_delay(BUSY_PATIENCE_SECONDS)

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        started = time.monotonic()
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if self.in_transaction or not is_busy(exc):
                raise
        retrying = Retrying(
            stop=self.patience, wait=BUSY_WAIT, retry=retry_if_exception(is_busy), reraise=True
        )
        try:
            return retrying(super().execute, sql, parameters)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            waited = time.monotonic() - started
            raise DatabaseBusyError(
                f"the database {self.path or '(in memory)'} stayed locked by another "
                f"process for {waited:.1f}s ({exc}); run the command again once that "
                f"process is done with it"
            ) from exc


@contextmanager
def patient(db: Database, stop: stop_base = stop_never) -> Iterator[Database]:
    """Within the block, a statement of `db` that finds the database locked is retried
    until `stop` (by default, for as long as it takes)."""
    conn = db.conn
    if not isinstance(conn, PatientConnection):
        yield db
        return
    before = conn.patience
    conn.patience = stop
    try:
        yield db
    finally:
        conn.patience = before


class write_transaction:  # lower case: used as a function: `with write_transaction(db):`
    """Run a block as one transaction that holds the write lock from its first statement.

    `BEGIN IMMEDIATE` rather than sqlite-utils' `db.atomic()` (a deferred `BEGIN`): a block
    that reads and then writes must not find, half-way, that another writer committed in
    between; that surfaces as `database is locked` no matter the busy timeout. A class
    rather than a generator: the runner opens one per step.
    """

    __slots__ = ("db",)

    def __init__(self, db: Database) -> None:
        self.db = db

    def __enter__(self) -> Database:
        self.db.conn.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        conn = self.db.conn
        if kind is None:
            conn.execute("COMMIT")
        elif conn.in_transaction:
            conn.execute("ROLLBACK")


def database_file(db: Database) -> Path:
    """The file behind `db` (its `main` schema)."""
    return Path(db.conn.execute("PRAGMA database_list").fetchone()[2])
