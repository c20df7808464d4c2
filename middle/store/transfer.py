"""A run's rows out of one database and into another (`middle state export/import`).

Export reads every row of the chosen workflows from the tables that make a run:
`workflows`, `steps`, `waitfor_signals`, `events`, `hook_deliveries` and `review_comments`.
Import writes them back through `insert_idempotent`, so importing the same rows twice adds
nothing:

- `workflows`, `steps`, `waitfor_signals`, `hook_deliveries` and `review_comments` have
  natural primary keys (a comment's id is made once, where it was written),
  the same on every machine; a second import collides with the first and is a no-op.
- `events` have an AUTOINCREMENT id, local to each database. An event travels with a `uid`
  (see `event_uid`), and `event_origins` maps that uid to the local row. The uid is fixed
  where the event was first recorded and carried on through every later export, so a run
  that hops A → B → A is still recognised on A.

A home that already holds an *older* copy of the run (a self-hosted runner that ran an
earlier job) takes the imported copy: the workflow row with the later `updated_at` wins,
and then the imported checkpoints, signals and comments overwrite the local ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import quote_identifier

from middle.store.base import write_transaction
from middle.store.migrations import RUN_META_UPGRADES
from middle.store.records import Row, insert_idempotent, primary_key

RUN_TABLES = (
    "workflows", "steps", "waitfor_signals", "events", "hook_deliveries", "review_comments",
)  # fmt: skip


def event_uid(event: Mapping[str, Any]) -> str:
    """A digest of what an event *is* (workflow, time to the microsecond, type, payload),
    the same wherever it is computed from the same row."""
    text = "\0".join(str(event[k] or "") for k in ("workflow_id", "ts", "type", "payload_json"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def export_run_rows(db: Database, workflow_ids: Iterable[str]) -> dict[str, list[Row]]:
    """Every row of the given workflows, table by table; events carry `uid`, not `id`."""
    ids = list(workflow_ids)
    marks = ", ".join("?" for _ in ids)
    tables: dict[str, list[Row]] = {}
    for table in RUN_TABLES:
        key = "id" if table == "workflows" else "workflow_id"
        order = "id" if table in ("workflows", "events") else ", ".join(primary_key(db, table))
        tables[table] = list(db[table].rows_where(f"{key} IN ({marks})", ids, order_by=order))
    origins = {
        row["event_id"]: row["uid"]
        for row in db["event_origins"].rows_where(f"workflow_id IN ({marks})", ids)
    }
    events = []
    for row in tables["events"]:
        local_id = row.pop("id")
        events.append({"uid": origins.get(local_id) or event_uid(row), **row})
    tables["events"] = events
    return tables


def import_run_rows(
    db: Database, tables: Mapping[str, list[Row]], *, then: Callable[[], None] | None = None
) -> dict[str, int]:
    """Write the rows of an export (one transaction); return how many each table gained.

    Rows whose key is already present are left alone, unless the imported workflow row is
    newer than the local one (see the module docstring). `then` runs inside the
    transaction once the rows are written: if it raises, none of them is kept.
    """
    added = dict.fromkeys(RUN_TABLES, 0)
    with write_transaction(db):
        refreshed: set[str] = set()
        for row in tables.get("workflows", []):
            if insert_idempotent(db, "workflows", row):
                added["workflows"] += 1
            elif _is_newer(db, row):
                _overwrite(db, "workflows", row)
                refreshed.add(row["id"])
        for table in ("steps", "waitfor_signals", "hook_deliveries", "review_comments"):
            for row in tables.get(table, []):
                if insert_idempotent(db, table, row):
                    added[table] += 1
                elif row["workflow_id"] in refreshed and table != "hook_deliveries":
                    _overwrite(db, table, row)
        for statement in RUN_META_UPGRADES:  # a bundle an older middle exported
            db.execute(statement)
        known: dict[str, set[str]] = {}
        for event in tables.get("events", []):
            row = {k: v for k, v in event.items() if k not in ("uid", "id")}
            uid = str(event.get("uid") or event_uid(row))
            seen = known.setdefault(row["workflow_id"], _known_uids(db, row["workflow_id"]))
            if uid not in seen:
                _import_event(db, row, uid)
                seen.add(uid)
                added["events"] += 1
        if then is not None:
            then()
    return added


def _known_uids(db: Database, workflow_id: str) -> set[str]:
    """The uids of the run's local events: imported ones by their recorded uid, native
    ones by their digest (so an export imported back where it came from adds nothing)."""
    rows = db.execute(
        "SELECT e.workflow_id, e.ts, e.type, e.payload_json, o.uid FROM events e "
        "LEFT JOIN event_origins o ON o.event_id = e.id WHERE e.workflow_id = ?",
        [workflow_id],
    ).fetchall()
    keys = ("workflow_id", "ts", "type", "payload_json")
    return {uid or event_uid(dict(zip(keys, rest, strict=True))) for *rest, uid in rows}


def _import_event(db: Database, row: Mapping[str, Any], uid: str) -> None:
    insert_idempotent(db, "events", row)  # a fresh AUTOINCREMENT id: never a conflict
    event_id = db.execute("SELECT last_insert_rowid()").fetchone()[0]
    insert_idempotent(
        db, "event_origins", {"workflow_id": row["workflow_id"], "uid": uid, "event_id": event_id}
    )


def _is_newer(db: Database, row: Mapping[str, Any]) -> bool:
    local = db.execute("SELECT updated_at FROM workflows WHERE id = ?", [row["id"]]).fetchone()
    return local is not None and str(row["updated_at"]) > str(local[0])


def _overwrite(db: Database, table: str, row: Mapping[str, Any]) -> None:
    """Set every column of the row with `row`'s key to `row`'s values."""
    keys = primary_key(db, table)
    columns = [c for c in row if c not in keys]
    assignments = ", ".join(f"{quote_identifier(c)} = ?" for c in columns)
    where = " AND ".join(f"{quote_identifier(k)} = ?" for k in keys)
    db.execute(
        f"UPDATE {quote_identifier(table)} SET {assignments} WHERE {where}",
        [*(row[c] for c in columns), *(row[k] for k in keys)],
    )


def run_row_counts(db: Database, workflow_ids: Iterable[str]) -> dict[str, int]:
    """How many rows each run table holds for the workflows (for tests and reports)."""
    ids = list(workflow_ids)
    marks = ", ".join("?" for _ in ids)
    counts = {}
    for table in (*RUN_TABLES, "event_origins"):
        key = "id" if table == "workflows" else "workflow_id"
        counts[table] = db.execute(
            f"SELECT count(*) FROM {table} WHERE {key} IN ({marks})", ids
        ).fetchone()[0]
    return counts
