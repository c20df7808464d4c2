"""Open the one SQLite database middle keeps, tuned for many short writers.

WAL lets readers (`middle status`) run beside the dispatcher; `synchronous=NORMAL` is safe
under WAL (a power cut can lose the last commits, never corrupt the file) and makes a commit
cost microseconds instead of an fsync; `busy_timeout` makes concurrent writers queue instead
of failing with `database is locked`, and past it the connection retries with backoff
(`PatientConnection`). `MIDDLE_BUSY_TIMEOUT_MS` sets the busy timeout (tests shorten it).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from middle.errors import ConfigError, DiskFullError, StoreError
from middle.store.base import PatientConnection
from middle.store.migrations import migrate

BUSY_TIMEOUT_MS = 10_000


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at `path`.

    The returned `Database` commits each `db.execute` write on its own; group writes with
    `write_transaction(db)`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise disk_full(path, exc) from exc
        raise
    busy_ms = busy_timeout_ms()
    conn = sqlite3.connect(
        path,
        check_same_thread=False,
        timeout=busy_ms / 1000,
        isolation_level=None,
        factory=PatientConnection,
    )
    conn.path = str(path)
    db = Database(conn, execute_plugins=False, recursive_triggers=False)
    try:
        # busy_timeout first: switching to WAL takes a lock that a racing opener may hold.
        db.execute(f"PRAGMA busy_timeout = {busy_ms}")
        _use_wal(db)
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise
        if is_disk_full(exc):
            raise disk_full(path, exc) from exc
        if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            raise StoreError(
                f"the database {path} cannot be opened ({exc}); check that you may read and "
                f"write it and its folder, then run the command again"
            ) from exc
        raise StoreError(
            f"the database {path} cannot be read ({exc}); run `middle doctor`, and if it "
            f"reports corruption move the file aside so middle can start a fresh one"
        ) from exc
    return db


def busy_timeout_ms() -> int:
    """How long SQLite itself waits for another connection's lock, in milliseconds."""
    raw = os.environ.get("MIDDLE_BUSY_TIMEOUT_MS", "").strip()
    if not raw:
        return BUSY_TIMEOUT_MS
    if not raw.isdigit():
        raise ConfigError(
            f"MIDDLE_BUSY_TIMEOUT_MS={raw!r} is not a whole number of milliseconds; "
            f"unset it (the default is {BUSY_TIMEOUT_MS})"
        )
    return int(raw)


def is_disk_full(exc: BaseException) -> bool:
    """Whether SQLite (SQLITE_FULL) or the OS (ENOSPC) said the disk is full."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL"
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def disk_full(path: Path, exc: BaseException) -> DiskFullError:
    return DiskFullError(
        f"the disk holding {path} is full ({exc}); free some space and run the command "
        f"again (nothing is corrupt; a run cut short continues with: middle resume)"
    )


def _use_wal(db: Database) -> None:
    """Put the file in WAL mode, which sticks to the file: only a first opener changes it.

    That change needs the file to itself, so racing first openers may find it locked: the
    connection waits that out as it does any lock (`PatientConnection`).
    """
    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        db.execute("PRAGMA journal_mode = WAL")


def integrity_check(db: Database) -> str:
    """SQLite's own verdict on the file: "ok", or what is damaged."""
    return str(db.execute("PRAGMA integrity_check").fetchone()[0])
