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

from middle.checks import unwritable
from middle.errors import ConfigError, DiskFullError, StoreError
from middle.store.base import PatientConnection
from middle.store.migrations import migrate
from middle.store.reads import database_files
from middle.system.files import make_private

BUSY_TIMEOUT_MS = 10_000


def open_db(path: str | Path) -> Database:
    """Open (creating if needed) and migrate the database at `path`.

    The file and its `-wal` and `-shm` are private (0600): they hold session tokens. A
    fault of the disk under it (full, read-only, damaged) is a `StoreError` naming it.
    The returned `Database` commits each `db.execute` write on its own; group writes with
    `write_transaction(db)`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # SQLite would create it 0644; its -wal and -shm copy the mode
            os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise (store_fault(path, exc) or exc) from exc
    for file in database_files(path):
        make_private(file)
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
        raise (
            store_fault(path, exc)
            or StoreError(
                f"the database {path} cannot be opened ({exc}); check that you may read and "
                f"write it and its folder, then run the command again"
            )
        ) from exc
    return db


def store_fault(path: Path, exc: BaseException) -> StoreError | None:
    """The one-line error for a fault of the disk under the database at `path`: full,
    read-only, or a damaged file. None when `exc` is none of those (a bug, say)."""
    if is_disk_full(exc):
        return disk_full(path, exc)
    name = getattr(exc, "sqlite_errorname", "")
    errno_ = exc.errno if isinstance(exc, OSError) else None
    read_only = name.startswith("SQLITE_READONLY") or errno_ == errno.EROFS
    if read_only or name.startswith("SQLITE_CANTOPEN") or errno_ == errno.EACCES:
        target = Path(exc.filename) if isinstance(exc, OSError) and exc.filename else path
        files = [target] if target != path else [*database_files(path), path.parent]
        causes = [cause for cause in map(unwritable, files) if cause]
        if not causes and not read_only:
            return None  # not a matter of this user's rights: the caller says what it can
        cause = causes[0] if causes else str(exc)
        return StoreError(
            f"middle cannot write {target}: {cause}; make it writable by you, or set "
            f"MIDDLE_HOME to a folder you can write, then run the command again"
        )
    if name in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        return StoreError(
            f"the database {path} cannot be read ({exc}); run `middle doctor`, and if it "
            f"reports corruption move the file aside so middle can start a fresh one"
        )
    return None


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
    """Whether SQLite (SQLITE_FULL) or the OS (ENOSPC) said the disk is full, here or in
    what caused `exc` (a step's error raised from an OSError, say)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        if getattr(current, "sqlite_errorname", "") == "SQLITE_FULL":
            return True
        if isinstance(current, OSError) and current.errno == errno.ENOSPC:
            return True
        seen.append(current)
        current = current.__cause__ or current.__context__
    return False


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
    """SQLite's own verdict on the file: "ok", or what is damaged (a page too damaged for
    the check itself to read is a verdict too, not an error)."""
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        if getattr(exc, "sqlite_errorname", "") not in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            raise
        return str(exc)
