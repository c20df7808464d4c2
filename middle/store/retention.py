"""Retention: what `serve` forgets, and when (`[retention] events_days`, `runs_days`).

Only finished runs are ever touched (completed, compensated, failed, cancelled): a live
run, parked or not, keeps every row. Two sweeps:

- `prune_events`: a finished run's events (and what points at them) older than the
  cutoff, and events of no run.
- `archive_runs`: a run finished before the cutoff keeps its `workflows` row (a
  contract, and the record that it ran) and loses its other rows: checkpoints,
  signals, events, hook deliveries. The row is marked in `meta_json` with
  `archived_at`, so it is archived once.
"""

from __future__ import annotations

from sqlite_utils import Database

from middle.store.base import write_transaction
from middle.store.reads import utcnow
from middle.store.schema import TERMINAL_STATES

_FINISHED = f"SELECT id FROM workflows WHERE state IN ({', '.join('?' * len(TERMINAL_STATES))})"


def prune_events(db: Database, before: str) -> int:
    """Delete the events older than `before` (ISO time) of finished runs or of no run;
    the number deleted."""
    old = f"ts < ? AND (workflow_id IS NULL OR workflow_id IN ({_FINISHED}))"
    params = [before, *TERMINAL_STATES]
    with write_transaction(db):
        db.execute(
            f"DELETE FROM event_origins WHERE event_id IN (SELECT id FROM events WHERE {old})",
            params,
        )
        return int(db.execute(f"DELETE FROM events WHERE {old}", params).rowcount)


def archive_runs(db: Database, before: str) -> list[str]:
    """Archive the runs that finished (last updated) before `before`: their ids."""
    with write_transaction(db):
        ids = [
            str(row[0])
            for row in db.execute(
                f"{_FINISHED} AND updated_at < ? "
                "AND json_extract(meta_json, '$.archived_at') IS NULL",
                [*TERMINAL_STATES, before],
            ).fetchall()
        ]
        for run in ids:
            for table in ("event_origins", "hook_deliveries", "events", "waitfor_signals", "steps"):
                db.execute(f"DELETE FROM {table} WHERE workflow_id = ?", [run])
            db.execute(
                "UPDATE workflows SET meta_json = json_set(meta_json, '$.archived_at', ?) "
                "WHERE id = ?",
                [utcnow(), run],
            )
    return ids
