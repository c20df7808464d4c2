"""A full disk is a temporary problem, not corruption (issue 11 item 10).

SQLite's own SQLITE_FULL is produced for real by capping the file with
`PRAGMA max_page_count`: the next write that needs a page fails as on a full disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from middle import StepContext, step
from middle.errors import DiskFullError
from middle.store import db as store_db
from middle.store import get_workflow, open_db
from middle.testing import StepHarness

INPUT = {"repo": "/src/app", "ref": "108", "adapter": "claude"}


def fill_up(db: Database) -> None:
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def test_a_full_disk_at_open_is_not_reported_as_corruption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen red: the message said the database "cannot be read ... move the file aside",
    advice that throws all state away over a temporary problem."""
    migrate = store_db.migrate

    def migrate_on_a_full_disk(db: Database) -> Any:
        db.execute("PRAGMA max_page_count = 1")
        return migrate(db)

    monkeypatch.setattr(store_db, "migrate", migrate_on_a_full_disk)
    with pytest.raises(DiskFullError) as raised:
        open_db(tmp_path / "db.sqlite3")
    message = str(raised.value)
    assert "full" in message and "free some space" in message
    assert "move the file aside" not in message


def test_a_write_failing_mid_run_leaves_a_run_resume_continues(
    middle_db: Database, middle_harness: StepHarness
) -> None:
    """A guard, not a fix: this passed before any change (the step's checkpoint is written
    with the next step's start, so a failed write leaves the step to run again). It goes
    red if the runner ever marks a run failed on a write it could not make."""
    done: list[str] = []

    @step("first")
    def first(ctx: StepContext) -> str:
        done.append("first")
        if len(done) == 1:
            fill_up(ctx.db)  # the disk fills while the step works, the first time
        return "x" * 20_000  # its checkpoint needs new pages

    @step("second")
    def second(ctx: StepContext) -> str:
        done.append("second")
        return "ok"

    with pytest.raises(sqlite3.OperationalError, match="full"):
        middle_harness.run(first, second, input=INPUT, workflow_id="wf-1", name="wf")
    assert get_workflow(middle_db, "wf-1")["state"] not in ("failed", "compensated")

    middle_db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    result = middle_harness.another_runner().resume("wf-1")  # as the next command would
    assert result.status == "completed"
    assert done == ["first", "first", "second"]


def test_a_full_disk_inside_a_step_leaves_the_run_live_for_resume(
    middle_db: Database, middle_harness: StepHarness
) -> None:
    """A step's own write hits the full disk (before any agent is launched, say). Seen
    red: the run was marked `failed` once the attempts ran out, while the message said
    `middle resume` would continue it; resume then refused a run that had ended."""
    done: list[str] = []

    @step("prepare")
    def prepare(ctx: StepContext) -> str:
        done.append("prepare")
        if len(done) == 1:
            fill_up(ctx.db)
        ctx.record_event("note", {"text": "x" * 20_000})  # needs new pages
        return "ok"

    with pytest.raises(sqlite3.OperationalError, match="full"):
        middle_harness.run(prepare, input=INPUT, workflow_id="wf-1", name="wf")
    assert get_workflow(middle_db, "wf-1")["state"] == "running"

    middle_db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    result = middle_harness.another_runner().resume("wf-1")
    assert result.status == "completed"
    assert done[-1] == "prepare" and len(done) > 1


def test_a_full_disk_mid_command_is_one_line_not_a_traceback(tmp_path: Path, home: Path) -> None:
    """Seen red: a write hitting SQLITE_FULL mid-command escaped as a traceback."""
    from invoke import Context, Exit

    from middle.cli.tasks import middle_task

    @middle_task()
    def write_something(c: Context) -> None:
        db = open_db(tmp_path / "db.sqlite3")
        fill_up(db)
        db.execute("CREATE TABLE filler (x)")
        db.execute("INSERT INTO filler VALUES (?)", ["x" * 50_000])

    with pytest.raises(Exit) as raised:
        write_something(Context())
    assert "is full" in str(raised.value.message) and "middle resume" in str(raised.value.message)
