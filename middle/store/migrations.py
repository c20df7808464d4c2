"""Numbered schema migrations, recorded in `schema_version`.

A migration is a tuple of statements applied inside one write transaction together with its
`schema_version` row, so a crash applies all of it or none of it, and racing openers apply
each version exactly once (the loser of the race re-reads the version under the lock).
Append new migrations; never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from middle.store.schema import (
    EVENT_PAYLOAD_MAX_BYTES,
    STEP_STATUSES,
    TERMINAL_STATES,
    WORKFLOW_KINDS,
    WORKFLOW_STATES,
)

if TYPE_CHECKING:
    from sqlite_utils import Database


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        (
            f"""
            CREATE TABLE workflows (
                id              TEXT PRIMARY KEY,
                kind            TEXT NOT NULL CHECK (kind IN ({_sql_list(WORKFLOW_KINDS)})),
                repo            TEXT NOT NULL,
                epic_ref        TEXT,
                epic_number     INTEGER,
                adapter         TEXT NOT NULL,
                state           TEXT NOT NULL DEFAULT 'pending'
                                CHECK (state IN ({_sql_list(WORKFLOW_STATES)})),
                created_at      TEXT NOT NULL,
                updated_at      TEXT NOT NULL,
                worktree_path   TEXT,
                session_name    TEXT,
                session_token   TEXT,
                session_id      TEXT,
                transcript_path TEXT,
                controlled_by   TEXT NOT NULL DEFAULT 'middle'
                                CHECK (controlled_by IN ('middle', 'human')),
                pr_number       INTEGER,
                pr_branch       TEXT,
                last_heartbeat  TEXT,
                end_reason      TEXT,
                meta_json       TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(meta_json))
            )
            """,
            # One live implementation per issue: the partial index is what a second
            # dispatch collides with, and the PK-scoped insert lets that collision raise.
            f"""
            CREATE UNIQUE INDEX workflows_one_live_implementation
                ON workflows (repo, epic_ref)
                WHERE kind = 'implementation' AND state NOT IN ({_sql_list(TERMINAL_STATES)})
            """,
            # No other index on workflows: `state` changes at every transition, and the table
            # stays small enough to scan; each extra index cost ~25% per state write.
            f"""
            CREATE TABLE steps (
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                name        TEXT NOT NULL,
                position    INTEGER NOT NULL,
                status      TEXT NOT NULL CHECK (status IN ({_sql_list(STEP_STATUSES)})),
                attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
                output_json TEXT CHECK (output_json IS NULL OR json_valid(output_json)),
                last_error  TEXT,
                started_at  TEXT NOT NULL,
                finished_at TEXT,
                PRIMARY KEY (workflow_id, name)
            )
            """,
            f"""
            CREATE TABLE events (
                id           INTEGER PRIMARY KEY AUTOINCREMENT,
                workflow_id  TEXT REFERENCES workflows (id) ON DELETE CASCADE,
                ts           TEXT NOT NULL,
                type         TEXT NOT NULL,
                payload_json TEXT NOT NULL DEFAULT '{{}}'
                             CHECK (json_valid(payload_json)
                                    AND length(CAST(payload_json AS BLOB))
                                        <= {EVENT_PAYLOAD_MAX_BYTES})
            )
            """,
            "CREATE INDEX events_by_workflow ON events (workflow_id, id)",
            """
            CREATE TABLE waitfor_signals (
                workflow_id  TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                name         TEXT NOT NULL,
                armed_at     TEXT,
                deadline     TEXT,
                payload_json TEXT CHECK (payload_json IS NULL OR json_valid(payload_json)),
                delivered_at TEXT,
                PRIMARY KEY (workflow_id, name)
            )
            """,
            """
            CREATE TABLE rate_limit_state (
                adapter    TEXT PRIMARY KEY,
                status     TEXT NOT NULL CHECK (status IN ('available', 'limited')),
                reset_at   TEXT,
                source     TEXT,
                updated_at TEXT NOT NULL
            )
            """,
            """
            CREATE TABLE repo_config (
                repo        TEXT PRIMARY KEY,
                config_json TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(config_json)),
                updated_at  TEXT NOT NULL
            )
            """,
        ),
    ),
)

MIGRATIONS += (
    Migration(
        2,
        "hook deliveries",
        (
            # One row per spooled hook file recorded, written in the same commit as its
            # event, so a drainer that dies before deleting the file cannot record it twice.
            """
            CREATE TABLE hook_deliveries (
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                delivery    TEXT NOT NULL,
                recorded_at TEXT NOT NULL,
                PRIMARY KEY (workflow_id, delivery)
            )
            """,
        ),
    ),
)

# Issue 14 (a run that moves between machines): version 6 was reserved for it.
MIGRATIONS += (
    Migration(
        6,
        "event origins",
        (
            # Events have an AUTOINCREMENT id, which means nothing on another machine. An
            # imported event is known by `uid`, a digest fixed where the event was first
            # recorded; this table maps it to the local row, so importing twice adds none.
            """
            CREATE TABLE event_origins (
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                uid         TEXT NOT NULL,
                event_id    INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
                PRIMARY KEY (workflow_id, uid)
            )
            """,
            "CREATE UNIQUE INDEX event_origins_by_event ON event_origins (event_id)",
        ),
    ),
)

# Issue 10 (one vocabulary, one scratch): a run's input names its issue `ref`, and what
# its steps keep between attempts lives under `scratch`. These rewrite a run an older
# middle wrote, so one that was mid-turn when it was upgraded (or that arrives in a state
# bundle an older middle exported) adopts its agent, not a new one. Each touches only rows
# of the old shape, so running them again changes nothing.
RUN_META_UPGRADES = (
    """
    UPDATE workflows SET meta_json = json_remove(json_set(meta_json, '$.input.ref',
        json_extract(meta_json, '$.input.epic_ref')), '$.input.epic_ref')
    WHERE json_type(meta_json, '$.input.epic_ref') IS NOT NULL
    """,
    """
    UPDATE workflows SET meta_json = json_remove(json_set(meta_json, '$.scratch.turns',
        json_extract(meta_json, '$.turns')), '$.turns')
    WHERE json_type(meta_json, '$.turns') IS NOT NULL
    """,
    """
    UPDATE workflows SET meta_json = json_remove(json_set(meta_json,
        '$.scratch.end_note', json_extract(meta_json, '$.end_note')), '$.end_note')
    WHERE json_type(meta_json, '$.end_note') IS NOT NULL
    """,
)
MIGRATIONS += (Migration(7, "run input ref and scratch", RUN_META_UPGRADES),)

# Issue 26 (review in the browser): a reviewer's line comments, kept with their run. A
# draft is collected into the next review; a sent one is shown beside the next round's
# diff, resolved when the lines it was on changed. `line` is on the new side of the diff
# at `head_sha`; `context` is the few lines around it, as the agent's brief quotes them.
MIGRATIONS += (
    Migration(
        8,
        "review comments",
        (
            """
            CREATE TABLE review_comments (
                id          TEXT PRIMARY KEY,
                workflow_id TEXT NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
                path        TEXT NOT NULL,
                line        INTEGER NOT NULL CHECK (line > 0),
                head_sha    TEXT NOT NULL,
                body        TEXT NOT NULL,
                context     TEXT NOT NULL DEFAULT '',
                state       TEXT NOT NULL CHECK (state IN ('draft', 'sent')),
                created_at  TEXT NOT NULL,
                sent_at     TEXT
            )
            """,
            "CREATE INDEX review_comments_by_run ON review_comments (workflow_id, created_at)",
        ),
    ),
)

# Issue 23 (an Epic fanned out): a child run names the Epic's run that started it, so the
# parent finds its children after a crash and `status` shows the tree.
MIGRATIONS += (
    Migration(
        9,
        "parent runs",
        (
            "ALTER TABLE workflows ADD COLUMN parent_id TEXT REFERENCES workflows (id)",
            "CREATE INDEX workflows_by_parent ON workflows (parent_id)",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version

_CREATE_SCHEMA_VERSION = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )
"""


def schema_version(db: Database) -> int:
    """The highest applied migration, or 0 for a database middle has never opened."""
    try:
        row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    return int(row[0] or 0)


def migrate(db: Database) -> list[int]:
    """Apply every migration newer than the database; return the versions applied.

    The fast path (already current) is one read, so opening the store stays cheap.
    """
    if schema_version(db) >= LATEST_VERSION:
        return []
    # Here, not at the top: the read path (`reads.py`) needs LATEST_VERSION without these.
    from middle.store.base import write_transaction
    from middle.store.reads import utcnow
    from middle.store.records import insert_idempotent

    applied = []
    with write_transaction(db):
        db.execute(_CREATE_SCHEMA_VERSION)
        current = schema_version(db)  # re-read under the lock: a racing opener may have won
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            for statement in migration.statements:
                db.execute(statement)
            insert_idempotent(
                db,
                "schema_version",
                {"version": migration.version, "name": migration.name, "applied_at": utcnow()},
            )
            applied.append(migration.version)
    return applied
