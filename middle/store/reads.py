"""The read path: plain `sqlite3`, no sqlite-utils, for the commands that only look.

Every function takes anything with `execute(sql, params)`: a `sqlite3.Connection` from
`open_reader` (what `middle status` uses, so it starts fast) or the sqlite-utils
`Database` the rest of middle writes through, whose readers here are the same queries.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from middle.store.schema import TERMINAL_STATES
from middle.system.files import make_private

Row = dict[str, Any]


def iso(moment: datetime) -> str:
    """`moment` (timezone-aware) as timestamp-column text: `2026-11-27T06:05:21.123456Z`."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def utcnow() -> str:
    """Now, as the ISO 8601 UTC text every timestamp column holds (sorts as it reads): `iso`
    without its conversion, since the moment is UTC already (its "+00:00" becomes "Z")."""
    return datetime.now(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


class Readable(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> sqlite3.Cursor: ...


def database_files(path: Path) -> list[Path]:
    """The database file and, while they exist, its `-wal` and `-shm`."""
    files = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
    return [path, *(file for file in files if file.exists())]


def open_reader(path: Path, latest: int) -> sqlite3.Connection | None:
    """A connection to read the database at `path`, or None when there is none yet or it
    is not at schema version `latest` (`LATEST_VERSION`): the caller then opens it with
    `open_db`, which creates and migrates it."""
    if not path.exists():
        return None
    for file in database_files(path):  # it holds session tokens: private, as open_db keeps it
        make_private(file)
    conn = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if "no such table" in str(exc):
            return None
        raise
    if int(row[0] or 0) < latest:
        conn.close()
        return None
    return conn


def rows(db: Readable, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    cursor = db.execute(sql, params)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def list_workflows(
    db: Readable,
    *,
    state: str | Iterable[str] | None = None,
    repo: str | None = None,
    epic_ref: str | None = None,
    kind: str | None = None,
    live: bool | None = None,
    parent_id: str | None = None,
) -> list[Row]:
    """Workflows matching every filter given, oldest first.

    `live=True` keeps the non-terminal ones, `live=False` the terminal ones.
    """
    clauses: list[str] = []
    params: list[Any] = []
    if state is not None:
        states = [state] if isinstance(state, str) else list(state)
        clauses.append(f"state IN ({', '.join('?' for _ in states)})")
        params.extend(states)
    filters = (("repo", repo), ("epic_ref", epic_ref), ("kind", kind), ("parent_id", parent_id))
    for column, value in filters:
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if live is not None:
        negate = "NOT " if live else ""
        clauses.append(f"state {negate}IN ({', '.join('?' for _ in TERMINAL_STATES)})")
        params.extend(TERMINAL_STATES)
    where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
    return rows(db, f"SELECT * FROM workflows {where}ORDER BY created_at, id", params)


def load_checkpoints(db: Readable, workflow_id: str) -> list[Row]:
    """Every checkpoint of the run, in the order the steps ran."""
    return rows(db, "SELECT * FROM steps WHERE workflow_id = ? ORDER BY position", [workflow_id])


def current_step(db: Readable, workflow_id: str) -> Row | None:
    """The checkpoint furthest along, which is the step running now or the last one run."""
    found = rows(
        db,
        "SELECT * FROM steps WHERE workflow_id = ? ORDER BY position DESC LIMIT 1",
        [workflow_id],
    )
    return found[0] if found else None


def last_event(db: Readable, workflow_id: str) -> Row | None:
    """The run's newest event."""
    found = rows(
        db, "SELECT * FROM events WHERE workflow_id = ? ORDER BY id DESC LIMIT 1", [workflow_id]
    )
    return found[0] if found else None


def list_rate_limits(db: Readable) -> list[Row]:
    return rows(db, "SELECT * FROM rate_limit_state ORDER BY adapter")


def get_rate_limit(db: Readable, adapter: str) -> Row | None:
    found = rows(db, "SELECT * FROM rate_limit_state WHERE adapter = ?", [adapter])
    return found[0] if found else None


def active_rate_limit(db: Readable, adapter: str) -> Row | None:
    """The adapter's limit if it is still in force now, else None."""
    row = get_rate_limit(db, adapter)
    if row is None or row["status"] != "limited":
        return None
    if row["reset_at"] is not None and row["reset_at"] <= utcnow():
        return None
    return row
