"""A locked database is a transient fault: a write outlasts another connection's write
lock held past `busy_timeout`, with backoff, until its patience runs out; then one line
names the file. (The e2e test, a live run under such a lock, is tests/faults/
test_locked_database.py.)"""

from __future__ import annotations

import sqlite3

import pytest
from sqlite_utils import Database
from tenacity import stop_after_attempt

from middle.errors import DatabaseBusyError
from middle.store import database_file, patient, record_event, write_transaction
from tests.write_lock import write_lock_held

HOLD = 0.5  # seconds: 25 busy timeouts


@pytest.fixture
def db(middle_db: Database) -> Database:
    middle_db.execute("PRAGMA busy_timeout = 20")
    return middle_db


def test_a_write_waits_out_a_lock_held_past_busy_timeout(db: Database) -> None:
    """Seen red: `sqlite3.OperationalError: database is locked` after 20 ms."""
    with write_lock_held(database_file(db), HOLD) as held:
        record_event(db, None, "written", {"n": 1})
        assert held.held_for() >= HOLD
    assert [row["type"] for row in db["events"].rows] == ["written"]


def test_a_transaction_waits_out_the_lock_too(db: Database) -> None:
    """`BEGIN IMMEDIATE` is where a transaction meets the lock; once it has it, nothing
    inside can be busy. Seen red as above."""
    with write_lock_held(database_file(db), HOLD) as held:
        with write_transaction(db):
            record_event(db, None, "one")
            record_event(db, None, "two")
        assert held.held_for() >= HOLD
    assert db["events"].count == 2


def test_patience_that_runs_out_is_one_line_that_names_the_file(db: Database) -> None:
    with write_lock_held(database_file(db), 60) as held:
        with patient(db, stop_after_attempt(2)), pytest.raises(DatabaseBusyError) as raised:
            record_event(db, None, "never")
        held.release.set()
    message = str(raised.value)
    assert f"the database {database_file(db)} stayed locked by another process" in message
    assert "\n" not in message
    assert db["events"].count == 0


def test_a_busy_statement_inside_a_deferred_transaction_is_not_retried(db: Database) -> None:
    """Inside a transaction a retry cannot help (its snapshot may be stale), so SQLite's
    own error surfaces at once; middle's transactions begin IMMEDIATE and never get here."""
    db.conn.execute("BEGIN")
    with write_lock_held(database_file(db), 60) as held:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            record_event(db, None, "never")
        held.release.set()
    db.conn.execute("ROLLBACK")
