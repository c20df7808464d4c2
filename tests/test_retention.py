"""Retention in `serve` (`[retention] events_days` 14, `runs_days` 30): a finished run's
old events go, a run finished long ago is archived (its `workflows` row stays, marked,
its other rows go), and live runs and recent ones keep everything. Timestamps are set in
the past directly in the database: no waiting."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlite_utils import Database

from middle.app.home import open_home_db
from middle.app.service.serve import Service
from middle.store import (
    arm_signal,
    begin_attempt,
    create_workflow_record,
    iso,
    record_event,
)


def days_ago(days: int) -> str:
    return iso(datetime.now(UTC) - timedelta(days=days))


def run(db: Database, id: str, state: str, *, finished_days_ago: int, events_days_ago: int) -> None:
    """A run in `state`, last updated `finished_days_ago`, with a checkpoint, a signal
    and two events (one `events_days_ago`, one now)."""
    create_workflow_record(
        db, id=id, kind="implementation", repo="/r", epic_ref=id, adapter="command"
    )
    begin_attempt(db, id, "prepare-worktree", 0)
    arm_signal(db, id, "resume", None)
    record_event(db, id, "old", {})
    record_event(db, id, "new", {})
    db.execute(
        "UPDATE events SET ts = ? WHERE workflow_id = ? AND type = 'old'",
        [days_ago(events_days_ago), id],
    )
    db.execute(
        "UPDATE workflows SET state = ?, updated_at = ? WHERE id = ?",
        [state, days_ago(finished_days_ago), id],
    )
    db.conn.commit()


def rows(db: Database, table: str, id: str) -> int:
    return int(
        db.execute(f"SELECT count(*) FROM {table} WHERE workflow_id = ?", [id]).fetchone()[0]
    )


def test_retention_prunes_old_events_and_archives_old_finished_runs_only(home: Path) -> None:
    """Seen red: serve had no retention pass (`Service.retain` did not exist)."""
    db = open_home_db()
    run(db, "old-done", "completed", finished_days_ago=40, events_days_ago=40)
    run(db, "old-failed", "failed", finished_days_ago=31, events_days_ago=31)
    run(db, "recent-done", "completed", finished_days_ago=20, events_days_ago=20)
    run(db, "fresh-done", "cancelled", finished_days_ago=1, events_days_ago=1)
    run(db, "old-parked", "waiting-human", finished_days_ago=60, events_days_ago=60)
    run(db, "old-running", "running", finished_days_ago=60, events_days_ago=60)
    record_event(db, None, "orphan", {})
    db.execute("UPDATE events SET ts = ? WHERE type = 'orphan'", [days_ago(15)])
    db.conn.commit()

    Service().retain()

    db = open_home_db()
    for archived in ("old-done", "old-failed"):
        row = db["workflows"].get(archived)
        assert row["state"] in ("completed", "failed")  # the contract row stays as it was
        assert "archived_at" in json.loads(row["meta_json"])
        assert [rows(db, t, archived) for t in ("steps", "events", "waitfor_signals")] == [0, 0, 0]
    # finished 20 days ago: not archived yet, but its 20-day-old event is pruned
    assert "archived_at" not in json.loads(db["workflows"].get("recent-done")["meta_json"])
    assert [e["type"] for e in db["events"].rows_where("workflow_id = 'recent-done'")] == ["new"]
    assert rows(db, "steps", "recent-done") == 1
    # a recent run, and live runs however old, keep everything
    for kept in ("fresh-done", "old-parked", "old-running"):
        assert "archived_at" not in json.loads(db["workflows"].get(kept)["meta_json"])
        assert [rows(db, t, kept) for t in ("steps", "events", "waitfor_signals")] == [1, 2, 1]
    assert db["events"].count_where("type = 'orphan'") == 0
    log = (home / "logs" / "serve.log").read_text()
    assert "retention: pruned 4 event(s), archived 2 run(s)" in log

    Service().retain()  # archived once: a second pass finds nothing to do
    assert (home / "logs" / "serve.log").read_text() == log


def test_retention_days_come_from_the_config(home: Path) -> None:
    """`[retention] runs_days = 50`: a run finished 40 days ago stays unarchived."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[retention]\nevents_days = 45\nruns_days = 50\n")
    db = open_home_db()
    run(db, "old-done", "completed", finished_days_ago=40, events_days_ago=40)
    Service().retain()
    db = open_home_db()
    assert "archived_at" not in json.loads(db["workflows"].get("old-done")["meta_json"])
    assert rows(db, "events", "old-done") == 2
