"""Migrations are numbered, recorded, applied once, and all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlite_utils import Database

from middle.errors import StoreError
from middle.store import LATEST_VERSION, database_file, migrate, open_db, schema_version
from middle.store.migrations import MIGRATIONS

CONTRACT_TABLES = {
    "workflows",
    "steps",
    "events",
    "waitfor_signals",
    "rate_limit_state",
    "repo_config",
    "schema_version",
}


def test_a_fresh_database_gets_every_table_of_the_contract(middle_db: Database) -> None:
    assert set(middle_db.table_names()) >= CONTRACT_TABLES
    assert schema_version(middle_db) == LATEST_VERSION


def test_workflows_has_every_contract_column(middle_db: Database) -> None:
    assert set(middle_db["workflows"].columns_dict) == {
        "id",
        "kind",
        "repo",
        "epic_ref",
        "epic_number",
        "adapter",
        "state",
        "created_at",
        "updated_at",
        "worktree_path",
        "session_name",
        "session_token",
        "session_id",
        "transcript_path",
        "controlled_by",
        "pr_number",
        "pr_branch",
        "last_heartbeat",
        "end_reason",
        "meta_json",
        "parent_id",  # issue 23: a fanned-out Epic's child names its parent run
    }


def test_migrating_twice_is_a_noop(middle_db: Database) -> None:
    assert migrate(middle_db) == []
    reopened = open_db(database_file(middle_db))
    assert reopened.execute("SELECT count(*) FROM schema_version").fetchone()[0] == (
        len(MIGRATIONS)
    )


def test_a_file_that_is_not_a_database_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"cannot be read.*middle doctor"):
        open_db(path)
