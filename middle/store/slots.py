"""Agent slots: a workflow holds one from `check-slots` until it parks or ends.

A holder is a workflow in `launching` or `running` whose `meta_json` says it claimed a
slot. Counting and claiming happen in one write transaction, so concurrent dispatches
cannot overshoot `max_concurrent`.
"""

from __future__ import annotations

from sqlite_utils import Database

from middle.store.records import Row, merge_workflow_meta

_HOLDERS = (
    "SELECT * FROM workflows WHERE state IN ('launching', 'running') "
    "AND json_extract(meta_json, '$.slot') = 'held' AND id != ?"
)


def slot_holders(db: Database, *, besides: str) -> list[Row]:
    """Workflows holding a slot now, other than `besides`, oldest first."""
    cursor = db.execute(_HOLDERS + " ORDER BY created_at", [besides])
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def claim_slot(db: Database, workflow_id: str) -> None:
    merge_workflow_meta(db, workflow_id, {"slot": "held"})
