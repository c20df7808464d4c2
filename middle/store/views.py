"""Read-side queries for the dashboard: paged runs, events after an id, the change marker.

Kept apart from `records.py` (the write side) so the dashboard's reads stay in one place,
and SQL stays in `middle/store/`. Every query here is bounded (LIMIT) or indexed, so a
page costs the same with 1,000 runs and 100,000 events as with ten.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from middle.store.records import Row
from middle.store.schema import TERMINAL_STATES


def _rows(db: Database, sql: str, params: list[Any]) -> list[Row]:
    cursor = db.execute(sql, params)
    columns = [column[0] for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def runs_page(
    db: Database,
    *,
    repo: str | None = None,
    state: str | None = None,
    adapter: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Row], int]:
    """One page of workflows, newest first, and how many match the filters in all."""
    clauses, params = [], []
    for column, value in (("repo", repo), ("state", state), ("adapter", adapter)):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    total = int(db.execute(f"SELECT count(*) FROM workflows {where}", params).fetchone()[0])
    rows = _rows(
        db,
        f"SELECT * FROM workflows {where} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    return rows, total


def runs_in_states(db: Database, states: tuple[str, ...], limit: int = 100) -> list[Row]:
    """The newest runs in any of `states` (updated most recently first)."""
    marks = ", ".join("?" for _ in states)
    return _rows(
        db,
        f"SELECT * FROM workflows WHERE state IN ({marks}) ORDER BY updated_at DESC LIMIT ?",
        [*states, limit],
    )


def distinct_values(db: Database, column: str) -> list[str]:
    """The values a filter can take (`repo`, `state` or `adapter`)."""
    if column not in ("repo", "state", "adapter"):
        raise ValueError(f"no filter on column {column!r}")
    cursor = db.execute(f"SELECT DISTINCT {column} FROM workflows ORDER BY {column}")
    return [str(row[0]) for row in cursor.fetchall()]


def events_after(db: Database, after_id: int, limit: int = 500) -> list[Row]:
    """Events with an id above `after_id`, oldest first (the live feed's tail)."""
    return _rows(
        db,
        "SELECT e.id, e.workflow_id, e.ts, e.type, e.payload_json, w.epic_ref "
        "FROM events e LEFT JOIN workflows w ON w.id = e.workflow_id "
        "WHERE e.id > ? ORDER BY e.id LIMIT ?",
        [after_id, limit],
    )


def recent_events(db: Database, limit: int = 50, workflow_id: str | None = None) -> list[Row]:
    """The newest events, across runs or of one run, newest first."""
    where, params = ("WHERE e.workflow_id = ?", [workflow_id]) if workflow_id else ("", [])
    return _rows(
        db,
        "SELECT e.id, e.workflow_id, e.ts, e.type, e.payload_json, w.epic_ref "
        f"FROM events e LEFT JOIN workflows w ON w.id = e.workflow_id {where} "
        "ORDER BY e.id DESC LIMIT ?",
        [*params, limit],
    )


def last_event_id(db: Database) -> int:
    return int(db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def change_marker(db: Database) -> tuple[Any, ...]:
    """Something that changes whenever a run, a rate limit or a repo setting changes, in
    one cheap read: the live feed polls it beside the events tail, because not every state
    write records an event."""
    row = db.execute(
        "SELECT (SELECT max(updated_at) FROM workflows), (SELECT count(*) FROM workflows), "
        "(SELECT max(updated_at) FROM rate_limit_state), (SELECT max(updated_at) FROM repo_config)"
    ).fetchone()
    return tuple(row)


def counts_by_state(db: Database) -> dict[str, int]:
    cursor = db.execute("SELECT state, count(*) FROM workflows GROUP BY state")
    return {str(state): int(count) for state, count in cursor.fetchall()}


def step_totals(db: Database) -> list[Row]:
    """Per step name (loop iterations folded): attempts, and checkpoints that failed."""
    return _rows(
        db,
        "SELECT CASE WHEN instr(name, '#') > 0 THEN substr(name, 1, instr(name, '#') - 1) "
        "ELSE name END AS step, sum(attempts) AS attempts, "
        "sum(status = 'failed') AS failed, sum(last_error IS NOT NULL) AS errored "
        "FROM steps GROUP BY step ORDER BY step",
        [],
    )


def slots_in_use(db: Database) -> dict[str, int]:
    """Slot holders (see `slots.py`) per repo."""
    cursor = db.execute(
        "SELECT repo, count(*) FROM workflows WHERE state IN ('launching', 'running') "
        "AND json_extract(meta_json, '$.slot') = 'held' GROUP BY repo"
    )
    return {str(repo): int(count) for repo, count in cursor.fetchall()}


def live_counts_by_repo(db: Database) -> dict[str, int]:
    marks = ", ".join("?" for _ in TERMINAL_STATES)
    cursor = db.execute(
        f"SELECT repo, count(*) FROM workflows WHERE state NOT IN ({marks}) GROUP BY repo",
        list(TERMINAL_STATES),
    )
    return {str(repo): int(count) for repo, count in cursor.fetchall()}


def recent_hook_deliveries(db: Database, limit: int = 1000) -> list[tuple[str, str]]:
    """(spool file name, recorded_at) of the newest hook deliveries. The file name starts
    with the nanosecond clock at which hook.sh wrote it, so the pair is the hook's latency."""
    cursor = db.execute(
        "SELECT delivery, recorded_at FROM hook_deliveries ORDER BY rowid DESC LIMIT ?", [limit]
    )
    return [(str(a), str(b)) for a, b in cursor.fetchall()]
