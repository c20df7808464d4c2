"""The founding rule: record-creating inserts are PK-idempotent and nothing else."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from middle.errors import AlreadyInFlight, StoreError, UnknownWorkflowError
from middle.store import (
    create_workflow_record,
    encode_event_payload,
    get_workflow,
    insert_idempotent,
    list_workflows,
    merge_workflow_meta,
    open_db,
    record_event,
    update_workflow,
)
from middle.store.records import live_session_owner, transition_workflow
from middle.store.schema import EVENT_PAYLOAD_MAX_BYTES

RECORD = {"kind": "implementation", "repo": "/src/app", "epic_ref": "108", "adapter": "claude"}


def test_same_id_reinsert_is_a_noop_that_keeps_the_advanced_row(middle_db: Database) -> None:
    """A retried step re-runs `create_workflow_record` after the row has moved on.

    Seen red with a plain INSERT (the re-insert raised `sqlite3.IntegrityError: UNIQUE
    constraint failed`, the masking error of the seed system's bug) and green with
    `ON CONFLICT(id) DO NOTHING`.
    """
    assert create_workflow_record(middle_db, id="wf-1", **RECORD) is True
    update_workflow(middle_db, "wf-1", state="running", session_name="middle-app-108")
    before = get_workflow(middle_db, "wf-1")

    assert create_workflow_record(middle_db, id="wf-1", **RECORD) is False

    assert get_workflow(middle_db, "wf-1") == before
    assert before["state"] == "running"
    assert middle_db["workflows"].count == 1


@pytest.mark.parametrize(
    ("override", "constraint"),
    [
        ({"kind": "deployment"}, "CHECK constraint failed"),
        ({"repo": None}, "NOT NULL constraint failed: workflows.repo"),
        ({"adapter": None}, "NOT NULL constraint failed: workflows.adapter"),
    ],
)
def test_real_violations_still_raise_and_insert_nothing(
    middle_db: Database, override: dict[str, object], constraint: str
) -> None:
    """The PK scoping is the point: a blanket OR-IGNORE would pass these silently."""
    with pytest.raises(sqlite3.IntegrityError, match=constraint):
        create_workflow_record(middle_db, id="wf-bad", **{**RECORD, **override})  # type: ignore[arg-type]
    assert middle_db["workflows"].count == 0


def test_a_same_id_retry_of_a_bad_row_still_raises(middle_db: Database) -> None:
    """A conflict on the PK does not hide a CHECK failure in the same statement's row."""
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    with pytest.raises(sqlite3.IntegrityError):
        insert_idempotent(
            middle_db,
            "workflows",
            {
                "id": "wf-2",
                "kind": "nope",
                "repo": "r",
                "adapter": "a",
                "created_at": "t",
                "updated_at": "t",
            },
        )


def test_second_live_implementation_raises_already_in_flight(middle_db: Database) -> None:
    """The partial UNIQUE index is a real violation: it must surface, naming the live run.

    Seen red with a target-less `ON CONFLICT DO NOTHING`, which swallowed the collision and
    returned False; green with the conflict target scoped to the primary key.
    """
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    update_workflow(middle_db, "wf-1", state="waiting-human")

    with pytest.raises(AlreadyInFlight, match=r"live workflow wf-1 \(waiting-human\)"):
        create_workflow_record(middle_db, id="wf-2", **RECORD)
    assert [row["id"] for row in list_workflows(middle_db)] == ["wf-1"]


@pytest.mark.parametrize("terminal", ["completed", "compensated", "failed", "cancelled"])
def test_a_new_dispatch_is_allowed_once_the_live_one_is_terminal(
    middle_db: Database, terminal: str
) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    update_workflow(middle_db, "wf-1", state=terminal)

    assert create_workflow_record(middle_db, id="wf-2", **RECORD) is True


def test_other_kinds_and_other_refs_do_not_collide(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    assert create_workflow_record(middle_db, id="wf-2", **{**RECORD, "epic_ref": "109"})
    assert create_workflow_record(middle_db, id="wf-3", **{**RECORD, "kind": "documentation"})
    assert create_workflow_record(middle_db, id="wf-4", **{**RECORD, "repo": "/src/other"})


@pytest.mark.parametrize(("ref", "number"), [("108", 108), ("retry-webhooks", None), (None, None)])
def test_a_numeric_ref_fills_epic_number(
    middle_db: Database, ref: str | None, number: int | None
) -> None:
    create_workflow_record(middle_db, id="wf-1", **{**RECORD, "epic_ref": ref})
    assert get_workflow(middle_db, "wf-1")["epic_number"] == number


def test_source_and_meta_land_in_meta_json(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD, source="manual", meta={"round": 1})
    assert json.loads(get_workflow(middle_db, "wf-1")["meta_json"]) == {
        "round": 1,
        "source": "manual",
    }


def test_racing_creators_make_exactly_one_row_and_none_raises(tmp_path: Path) -> None:
    """Twelve processes open a fresh database (racing its migration too) and create one id."""
    path = tmp_path / "race.sqlite3"
    go = tmp_path / "go"
    script = textwrap.dedent(
        f"""
        import os, time
        from middle.store import open_db, create_workflow_record
        while not os.path.exists({str(go)!r}):
            time.sleep(0.001)
        db = open_db({str(path)!r})
        print(create_workflow_record(db, id="wf-race", kind="implementation", repo="/r",
                                     epic_ref="7", adapter="claude"))
        """
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(12)
    ]
    go.touch()
    results = [racer.communicate(timeout=120) for racer in racers]

    assert [racer.returncode for racer in racers] == [0] * 12, [err for _, err in results]
    assert sorted(out.strip() for out, _ in results) == ["False"] * 11 + ["True"]
    db = open_db(path)
    assert db["workflows"].count == 1


def test_insert_idempotent_refuses_a_table_without_a_primary_key(middle_db: Database) -> None:
    middle_db.execute("CREATE TABLE loose (x TEXT)")
    with pytest.raises(StoreError, match="no primary key"):
        insert_idempotent(middle_db, "loose", {"x": "1"})


def test_update_workflow_bumps_updated_at_and_names_a_missing_row(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    before = get_workflow(middle_db, "wf-1")
    update_workflow(middle_db, "wf-1", state="running")
    after = get_workflow(middle_db, "wf-1")
    assert after["state"] == "running"
    assert after["updated_at"] > before["updated_at"]
    with pytest.raises(UnknownWorkflowError, match="wf-nope"):
        update_workflow(middle_db, "wf-nope", state="running")
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        update_workflow(middle_db, "wf-1", stat="running")


def test_merge_meta_keeps_the_keys_it_does_not_set(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD, source="auto", meta={"round": 1, "x": 1})
    merge_workflow_meta(middle_db, "wf-1", {"round": 2, "x": None, "nested": {"a": 1}})
    merge_workflow_meta(middle_db, "wf-1", {"nested": {"b": 2}})
    meta = json.loads(get_workflow(middle_db, "wf-1")["meta_json"])
    assert meta == {"source": "auto", "round": 2, "nested": {"a": 1, "b": 2}}


def test_list_workflows_filters(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    create_workflow_record(middle_db, id="wf-2", **{**RECORD, "epic_ref": "109"})
    update_workflow(middle_db, "wf-2", state="failed")
    assert [r["id"] for r in list_workflows(middle_db, live=True)] == ["wf-1"]
    assert [r["id"] for r in list_workflows(middle_db, live=False)] == ["wf-2"]
    assert [r["id"] for r in list_workflows(middle_db, state=["pending", "failed"])] == [
        "wf-1",
        "wf-2",
    ]
    assert [r["id"] for r in list_workflows(middle_db, epic_ref="109")] == ["wf-2"]


def test_events_append_and_a_large_payload_is_truncated_to_16kb(middle_db: Database) -> None:
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    record_event(middle_db, "wf-1", "hook.Stop", {"small": True})
    record_event(middle_db, "wf-1", "hook.Stop", {"transcript": "x" * 50_000})
    small, large = middle_db["events"].rows_where(order_by="id")
    assert json.loads(small["payload_json"]) == {"small": True}
    stored = json.loads(large["payload_json"])
    assert stored["truncated"] is True
    assert stored["original_bytes"] > EVENT_PAYLOAD_MAX_BYTES
    assert len(large["payload_json"].encode()) <= EVENT_PAYLOAD_MAX_BYTES


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=9000), max_size=4))
def test_any_payload_encodes_to_valid_json_within_the_cap(payload: dict[str, str]) -> None:
    """Escaping can grow text up to 6x (control characters); the cap must still hold."""
    text = encode_event_payload(payload)
    assert len(text.encode()) <= EVENT_PAYLOAD_MAX_BYTES
    decoded = json.loads(text)
    if not decoded.get("truncated"):
        assert decoded == payload


def test_the_schema_itself_refuses_an_oversized_payload(middle_db: Database) -> None:
    """The CHECK is the backstop for any writer that skips `record_event`."""
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        insert_idempotent(
            middle_db, "events", {"ts": "t", "type": "x", "payload_json": json.dumps("y" * 20_000)}
        )


def test_open_db_sets_the_pragmas(tmp_path: Path) -> None:
    db = open_db(tmp_path / "db.sqlite3")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_live_session_owner_names_only_another_live_run(middle_db: Database) -> None:
    """Issue 11 item 1: a launch may kill a leftover session only when no other live run
    owns it. (The kill site is turn.py; this is the check it calls.)"""
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    create_workflow_record(middle_db, id="wf-2", **{**RECORD, "epic_ref": "109"})
    update_workflow(middle_db, "wf-1", state="running", session_name="middle-app-108-abc")
    assert live_session_owner(middle_db, "middle-app-108-abc", besides="wf-2")["id"] == "wf-1"
    assert live_session_owner(middle_db, "middle-app-108-abc", besides="wf-1") is None
    update_workflow(middle_db, "wf-1", state="completed")
    assert live_session_owner(middle_db, "middle-app-108-abc", besides="wf-2") is None


def test_a_transition_names_the_state_it_leaves_and_changes_nothing_otherwise(
    middle_db: Database,
) -> None:
    """Issue 11 item 7: a compare-and-set. Seen red: `transition_workflow` moved any live
    row, so a decision from a stale read (running) failed a run that had parked."""
    create_workflow_record(middle_db, id="wf-1", **RECORD)
    update_workflow(middle_db, "wf-1", state="waiting-human")
    assert not transition_workflow(middle_db, "wf-1", "failed", leaving="running", end_reason="x")
    assert get_workflow(middle_db, "wf-1")["state"] == "waiting-human"
    assert transition_workflow(middle_db, "wf-1", "failed", leaving=("running", "waiting-human"))
    assert not transition_workflow(middle_db, "wf-1", "cancelled", leaving="failed")  # terminal
    assert get_workflow(middle_db, "wf-1")["state"] == "failed"
